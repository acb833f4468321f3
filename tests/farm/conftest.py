"""Shared fixtures for farm tests: tiny sweeps, local devices, a farm file writer."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

#: One round, no sentinel, no confirmation: farm tests are about the farm (tests/cli cover rounds).
MEASURE = ("measure: {warmup_runs: 1, warmup_s: 0.01, min_runs: 3, min_s: 0.02, max_s: 0.2, "
           "rounds: 1, sentinel_every: 0, confirm_s: 0}")


def sweep_text(name: str, couts: list[int], measure: str = MEASURE) -> str:
    return textwrap.dedent(f"""\
        name: {name}
        fixed: {{cin: 8, resolution: 8}}
        {measure}
        op: conv2d
        axes:
          cout: {couts}
        """)


def local_device_text(name: str, tags: str = "[]") -> str:
    return textwrap.dedent(f"""\
        name: {name}
        class: cpu
        tags: {tags}
        transport: {{kind: local}}
        runtime: {{name: onnxruntime, threads: 1}}
        formats: [onnx]
        """)


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("artifact-cache")


class FarmDir:
    """A temporary farm folder: sweeps/, devices/, farm YAML files, results/, locks/."""

    def __init__(self, root: Path, cache: Path) -> None:
        self.root = root
        self.cache = cache
        for sub in ("sweeps", "devices", "results", "locks"):
            (root / sub).mkdir(exist_ok=True)

    def sweep(self, name: str, couts: list[int], measure: str = MEASURE) -> str:
        (self.root / "sweeps" / f"{name}.yaml").write_text(sweep_text(name, couts, measure))
        return f"sweeps/{name}.yaml"

    def device(self, name: str, text: str | None = None) -> None:
        (self.root / "devices" / f"{name}.yaml").write_text(text or local_device_text(name))

    def farm(self, body: str, name: str = "farm.yaml") -> Path:
        head = textwrap.dedent(f"""\
            name: testfarm
            results: results
            devices_dir: devices
            lock_dir: locks
            cache: {self.cache}
            """)
        path = self.root / name
        path.write_text(head + textwrap.dedent(body))
        return path


@pytest.fixture
def farm_dir(tmp_path: Path, shared_cache: Path) -> FarmDir:
    return FarmDir(tmp_path, shared_cache)


def have(binary: str) -> bool:
    return shutil.which(binary) is not None
