"""Content-addressed artifact cache: ``<root>/<key[:2]>/<key>/`` holds one artifact.

The key hashes everything the file depends on (point content, format, dtype, builder
version, library versions), so a rerun reuses files and a changed builder rebuilds.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from suite.sweep.point import canonical_json


def default_cache_dir() -> Path:
    """``$HWBEHAVE_CACHE`` or ``$XDG_CACHE_HOME/hwbehave`` or ``~/.cache/hwbehave``."""
    env = os.environ.get("HWBEHAVE_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hwbehave"


def cache_key(parts: dict[str, Any]) -> str:
    """Content hash of the parts an artifact depends on."""
    return hashlib.sha256(canonical_json(parts).encode()).hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class ArtifactCache:
    """A directory of built artifacts keyed by content."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root else default_cache_dir()

    def entry(self, key: str) -> Path:
        return self.root / key[:2] / key

    def lookup(self, key: str) -> dict[str, Any] | None:
        """The stored record of ``key`` if the entry is complete, else ``None``."""
        meta = self.entry(key) / "artifact.json"
        try:
            record = json.loads(meta.read_text())
        except (OSError, ValueError):
            return None
        if record.get("path") and not Path(record["path"]).exists():
            return None
        return record

    def store(self, key: str, files: dict[str, Path], record: dict[str, Any]) -> dict[str, Any]:
        """Move ``files`` into the entry atomically and write the record last."""
        final = self.entry(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=key[:8] + ".", dir=final.parent))
        for name, src in files.items():
            shutil.copyfile(src, tmp / name)
        main = next(iter(files))
        record = dict(record, path=str(final / main))
        (tmp / "artifact.json").write_text(json.dumps(record, sort_keys=True))
        try:
            os.replace(tmp, final)
        except OSError:  # another process stored it first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
            return self.lookup(key) or record
        return record
