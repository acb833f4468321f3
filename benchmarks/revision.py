"""The suite of another git revision, unpacked for a benchmark's side-by-side baseline."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


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
