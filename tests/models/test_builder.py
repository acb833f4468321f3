"""The shared cache-and-failure path of every builder (suite.models.builder.CachedBuilder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from suite import status as st
from suite.errors import ConfigError
from suite.models.builder import CachedBuilder, Made
from suite.models.cache import ArtifactCache, cache_key
from suite.ops.catalogue import get_op
from suite.sweep.point import Point


def point(cout: int, dtype: str = "fp32") -> Point:
    p = get_op("conv2d").normalize({"cin": 4, "cout": cout, "resolution": 8})
    return Point.make("conv2d", p, dtype, get_op("conv2d").cost(p, dtype))


class TextBuilder(CachedBuilder):
    """Writes the point id to a file; refuses fp16, fails on cout 13, raises ConfigError on cout 99."""

    format = "text"
    component = "text-builder"
    filename = "model.txt"

    def __init__(self, cache: ArtifactCache) -> None:
        super().__init__(cache=cache)
        self.made: list[str] = []

    def refuse(self, p: Point) -> str | None:
        return "no fp16 here" if p.dtype == "fp16" else None

    def key(self, p: Point, work: Path) -> str:
        if p.params["cout"] == 99:
            raise ConfigError("bad setting", field="toolchain.text.x")
        return cache_key({"point": p.id})

    def make(self, p: Point, work: Path) -> Made:
        if p.params["cout"] == 13:
            raise RuntimeError("planted failure")
        assert work.is_dir()
        self.made.append(p.id)
        (work / "m.txt").write_text(p.id)
        return Made(path=work / "m.txt", metadata={"chars": len(p.id)})


def test_hits_misses_refusals_and_failures_are_artifacts(tmp_path: Path) -> None:
    b = TextBuilder(ArtifactCache(tmp_path / "cache"))
    a, fp16, bad = point(8), point(8, "fp16"), point(13)
    first = b.build_many([a, fp16, bad, a])
    assert [x.status for x in first] == [st.OK, st.UNSUPPORTED, st.BUILD_ERROR, st.OK]
    assert b.made == [a.id]  # listed twice, made once
    assert first[0].metadata == {"chars": 16, "cache": "miss"}
    assert Path(str(first[0].path)).read_text() == a.id and first[0].sha256
    assert first[1].error == "text-builder: no fp16 here"
    assert first[2].error == "text-builder: RuntimeError: planted failure"
    again = b.build(a)
    assert again.metadata["cache"] == "hit" and again.path == first[0].path and b.made == [a.id]


def test_a_config_error_stops_the_build(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="bad setting"):
        TextBuilder(ArtifactCache(tmp_path / "cache")).build(point(99))
