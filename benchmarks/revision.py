"""The suite of another git revision, unpacked for a benchmark's side-by-side baseline."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def adopt_suite_root(argv: list[str]) -> None:
    """On a baseline side (``--suite-root DIR`` in ``argv``), import that tree's ``suite``, not this
    editable checkout's; call it before anything imports ``suite``."""
    if "--suite-root" in argv:
        root = argv[argv.index("--suite-root") + 1]
        sys.meta_path[:] = [f for f in sys.meta_path if not type(f).__module__.startswith("__editable__")]
        sys.path.insert(0, root)


def suite_at(rev: str, into: Path) -> Path:
    """``suite/`` of git revision ``rev`` unpacked as ``into/suite`` (``into`` goes first on ``sys.path``
    or ``PYTHONPATH``); returns ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    archive = into / "suite.tar"
    with archive.open("wb") as fh:
        subprocess.run(["git", "-C", str(REPO), "archive", rev, "suite"], stdout=fh, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    archive.unlink()
    return into


def run_side(script: str, label: str, root: Path | None, args: list[str]) -> dict:
    """Run benchmark ``script`` as one side (``--side label``, with ``--suite-root root`` for a
    baseline tree from :func:`suite_at`) in a fresh process and return the JSON it writes to ``--out``."""
    import json
    import sys
    import tempfile

    fd, name = tempfile.mkstemp(prefix="bench-side-", suffix=".json")
    os.close(fd)
    out = Path(name)
    cmd = [sys.executable, str(Path(script).resolve()), "--side", label, *args, "--out", str(out)]
    if root is not None:
        cmd += ["--suite-root", str(root)]
    try:
        subprocess.run(cmd, check=True, cwd=str(root or REPO))
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)
