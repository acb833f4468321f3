"""The ``Artifact`` record and the builder interface (DESIGN.md §1, build stage)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from suite import status as st
from suite.registry import Registry
from suite.sweep.point import Point


@dataclass(frozen=True)
class Artifact:
    """One model file for one point in one format and dtype (or the reason there is none)."""

    point_id: str
    format: str
    dtype: str
    status: str
    path: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    build_s: float | None = None
    error: str | None = None
    log: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        st.check(self.status)
        if self.status == st.OK and not self.path:
            raise ValueError(f"Artifact {self.point_id}/{self.format}: status ok but no path")
        if self.status != st.OK and not self.error:
            raise ValueError(f"Artifact {self.point_id}/{self.format}: status {self.status} needs an error text")

    @property
    def ok(self) -> bool:
        return self.status == st.OK

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Artifact:
        return cls(**json.loads(text))


class Builder(Protocol):
    """Turns points into artifacts of one format. A builder never touches a device.

    Every built-in builder is a :class:`suite.models.builder.CachedBuilder` (the one shared
    cache-and-failure path); a plug-in may be anything with these three members.
    """

    format: str

    def build_many(self, points: list[Point]) -> list[Artifact]:
        """Artifacts of ``points`` in order (built or fetched from cache); failures are statuses."""
        ...

    def close(self) -> None:
        """Release what the builder holds (process pools, helper builders)."""
        ...


BUILDERS: Registry[Any] = Registry("builder", entry_point_group="hwbehave.builders")


#: Built-in builders by format and the module that registers each (imported on demand,
#: so a missing optional extra only matters when its format is asked for).
BUILTIN_BUILDERS = {
    "onnx": "suite.models.onnx_builder",
    "tflite": "suite.models.tflite_builder",
    "edgetpu": "suite.toolchains.edgetpu",
    "openvino": "suite.toolchains.openvino",
    "rknn": "suite.toolchains.rknn",
    "kmodel": "suite.toolchains.nncase",
}


def get_builder(fmt: str) -> Any:
    """The builder class for ``fmt``, importing its module when it is a built-in one."""
    import importlib

    module = BUILTIN_BUILDERS.get(fmt)
    if module and fmt not in BUILDERS:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            from suite.errors import ConfigError

            raise ConfigError(f"the {fmt} builder cannot load: {exc}", field="formats", value=fmt,
                              expected="the optional extra that provides it installed") from None
    return BUILDERS.get(fmt, field="formats")
