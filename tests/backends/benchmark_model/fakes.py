"""Fakes for benchmark_model tests: a placeholder TFLite builder and the fake tool's installer."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from suite.backends.backend import Backend
from suite.models.builder import CachedBuilder, Made
from suite.models.cache import ArtifactCache, cache_key
from suite.sweep.point import Point

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parents[1] / "fixtures" / "benchmark_model"
#: The recorded output the fake tool prints for a good run.
GOOD_RUN = "linux-am62x-cpu-ssd_mobilenet_v2-tf2.20-p5-median-p95.txt"


class FakeTfliteBuilder(CachedBuilder):
    """Writes a placeholder ``.tflite`` per point (the fake benchmark_model never reads it)."""

    format = "tflite"
    component = "fake-tflite"
    filename = "model.tflite"

    def key(self, point: Point, work: Path) -> str:
        return cache_key({"fake-tflite": point.id})

    def make(self, point: Point, work: Path) -> Made:
        path = work / f"{point.id}.tflite"
        path.write_bytes(f"TFL3 fake model for {point.id}".encode())
        return Made(path=path, build_s=0.0)


@pytest.fixture
def fake_tflite(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The ``tflite`` format built by :class:`FakeTfliteBuilder` into a scratch cache (no TensorFlow)."""
    real = Backend.builder_class
    scratch = ArtifactCache(tmp_path / "fake-tflite-cache")

    def builder_class(self: Backend) -> object:
        if self.format != "tflite":
            return real(self)
        return lambda cache=None, device=None: FakeTfliteBuilder(cache=scratch, device=device)

    monkeypatch.setattr(Backend, "builder_class", builder_class)


def use_fake_tflite(monkeypatch: pytest.MonkeyPatch, cache_dir: Path) -> None:
    """Make the ``tflite`` format's builder a :class:`FakeTfliteBuilder` over ``cache_dir``."""
    real = Backend.builder_class
    scratch = ArtifactCache(cache_dir)

    def builder_class(self: Backend) -> object:
        if self.format != "tflite":
            return real(self)
        return lambda cache=None, device=None: FakeTfliteBuilder(cache=scratch, device=device)

    monkeypatch.setattr(Backend, "builder_class", builder_class)


def install_fake_tool(folder: Path, fixture: str = GOOD_RUN, profile_csv: str | None = None) -> Path:
    """Put the fake ``benchmark_model`` (and the output it prints) in ``folder``; returns its path.

    ``profile_csv`` names a fixture the tool writes where ``--profiling_output_csv_file`` says.
    """
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "benchmark_model"
    script.write_text(f"#!{sys.executable}\n" + (HERE / "fake_benchmark_model.py").read_text())
    script.chmod(0o755)
    (folder / "fake_benchmark_model.fixture").write_text((FIXTURES / fixture).read_text())
    if profile_csv:
        (folder / "fake_benchmark_model.csv").write_text((FIXTURES / profile_csv).read_text())
    return script
