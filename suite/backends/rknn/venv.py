"""The rknn-toolkit2 venv: rknn-toolkit2 2.5 pins old numpy/onnx/protobuf/torch, so it gets its own.

``hwbehave toolchains install rknn`` (:func:`install_venv`) builds it once at
``~/.cache/hwbehave/venvs/rknn`` (:func:`default_venv`); the builder finds it there.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from suite.errors import ToolchainError

TOOLKIT_VERSION = "2.5.0"
#: The toolkit's pins, resolved once on this kind of machine (x86_64, CPython 3.11) and
#: kept exact so every machine builds the same venv. The toolkit itself goes in with
#: ``--no-deps`` (its torch pin <= 2.4 is not needed for ONNX conversion; see TORCH_*).
REQUIREMENTS = (
    "numpy==1.26.4", "onnx==1.18.0", "protobuf==4.25.4", "onnxruntime==1.22.1",
    "setuptools>=77,<81",  # the toolkit imports pkg_resources, removed in setuptools 81
    "psutil>=5.9", "ruamel.yaml>=0.17.21", "scipy>=1.9.3", "tqdm>=4.64.1",
    "opencv-python-headless>=4.5.5.64",  # the headless build: the toolkit's opencv-python needs libGL
    "fast-histogram>=0.11",
    # torch's own dependencies (torch is installed with --no-deps from a local wheel)
    "filelock", "typing-extensions>=4.10", "sympy>=1.13.3", "networkx>=2.5.1", "jinja2", "fsspec>=0.8.5",
)
#: torch is imported by the toolkit; a local CPU wheel avoids PyPI's multi-GB CUDA build.
TORCH_WHEEL_GLOBS = ("/opt/wheels/torch-*cp{}{}*.whl",)
#: Without a local wheel: the same version by name (pip's find-links may still resolve it
#: locally), always --no-deps so a CUDA build's multi-GB dependencies are never pulled.
TORCH_FALLBACK = "torch==2.13.0"
INSTALL_HINT = "hwbehave toolchains install rknn  (creates ~/.cache/hwbehave/venvs/rknn)"
#: Written into the venv when it is complete; a venv without it (or with another recipe) is rebuilt.
MARKER = "hwbehave-toolchain.json"


def default_venv() -> Path:
    """``$HWBEHAVE_VENVS/rknn`` or ``$XDG_CACHE_HOME/hwbehave/venvs/rknn`` (``~/.cache/...``).

    Independent of ``$HWBEHAVE_CACHE`` (the artifact cache), so a run with a scratch
    artifact cache still finds the venv that took a minute and a half to build.
    """
    env = os.environ.get("HWBEHAVE_VENVS")
    if env:
        return Path(env).expanduser() / "rknn"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hwbehave" / "venvs" / "rknn"


def venv_python(venv: Path) -> Path:
    """The python executable of a venv."""
    return venv / "bin" / "python"


def recipe() -> dict[str, Any]:
    """What the venv is made of (compared with the marker to decide reuse)."""
    return {"toolkit": TOOLKIT_VERSION, "requirements": list(REQUIREMENTS),
            "python": "{}.{}".format(*sys.version_info[:2])}


def venv_ready(venv: Path) -> bool:
    """True when ``venv`` was completed by :func:`install_venv` with today's recipe."""
    try:
        marker = json.loads((venv / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return marker.get("recipe") == recipe() and venv_python(venv).exists()


def find_torch_wheel() -> str | None:
    """A local CPU torch wheel for this Python, if one is on disk."""
    for pattern in TORCH_WHEEL_GLOBS:
        found = sorted(glob.glob(pattern.format(*sys.version_info[:2])))
        if found:
            return found[-1]
    return None


def install_venv(venv: Path | None = None, *, torch_wheel: str | None = None, force: bool = False,
                 log: Callable[[str], None] = print, timeout_s: float = 1800.0) -> Path:
    """Create (or reuse) the rknn-toolkit2 venv; returns its python. Raises ``ToolchainError``.

    Steps: 1. ``python -m venv``; 2. the pinned requirements; 3. torch from a local wheel
    or ``torch==2.13.0`` by name (always ``--no-deps``); 4. ``rknn-toolkit2==2.5.0 --no-deps``;
    5. import check; 6. the marker file (last, so an interrupted install is redone).
    """
    venv = Path(venv or default_venv()).expanduser()
    if venv_ready(venv) and not force:
        log(f"rknn venv ready at {venv} (reused)")
        return venv_python(venv)
    py = str(venv_python(venv))

    def step(title: str, argv: list[str]) -> None:
        log(f"rknn venv: {title}: {' '.join(argv)}")
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ToolchainError(f"rknn venv: {title} failed: {exc}") from None
        if proc.returncode != 0:
            raise ToolchainError(f"rknn venv: {title} failed (exit {proc.returncode}): "
                                 f"{(proc.stderr or proc.stdout).strip()[-1500:]}")

    (venv / MARKER).unlink(missing_ok=True)
    step("1. create", [sys.executable, "-m", "venv", "--clear", str(venv)])
    pip = [py, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    step("2. pinned dependencies", pip + list(REQUIREMENTS))
    wheel = torch_wheel or find_torch_wheel()
    step("3. torch", pip + ["--no-deps", wheel or TORCH_FALLBACK])
    step("4. rknn-toolkit2", pip + ["--no-deps", f"rknn-toolkit2=={TOOLKIT_VERSION}"])
    step("5. import check", [py, "-c", "from rknn.api import RKNN"])
    (venv / MARKER).write_text(json.dumps({"recipe": recipe(), "torch": wheel or TORCH_FALLBACK}, indent=1))
    log(f"rknn venv ready at {venv}")
    return Path(py)
