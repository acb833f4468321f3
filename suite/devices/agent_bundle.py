"""Build the agent's one-file bundle (a zipapp of ``suite/agent``), cached by content.

The bundle holds the package under the name ``hwagent`` plus a ``__main__`` that calls
``hwagent.main.main``; the same file runs locally and on remote hosts.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zipfile
from pathlib import Path

import suite.agent

AGENT_DIR = Path(suite.agent.__file__).parent
MAIN = "import sys\nfrom hwagent.main import main\nsys.exit(main())\n"


def _sources() -> list[tuple[str, bytes]]:
    files = []
    for path in sorted(AGENT_DIR.rglob("*.py")):
        rel = path.relative_to(AGENT_DIR).as_posix()
        files.append(("hwagent/" + rel, path.read_bytes()))
    files.append(("__main__.py", MAIN.encode()))
    return files


def bundle_bytes() -> tuple[bytes, str]:
    """The zipapp content and its sha256 (timestamps fixed, so equal sources hash equal)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in _sources():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    data = buf.getvalue()
    return data, hashlib.sha256(data).hexdigest()


def agent_bundle(cache_dir: Path | None = None) -> Path:
    """Path of the agent ``.pyz`` for the current sources, written once per content."""
    data, digest = bundle_bytes()
    root = Path(cache_dir) if cache_dir else Path(tempfile.gettempdir()) / "hwbehave-agent"
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"hwagent-{digest[:12]}.pyz"
    if not path.exists():
        # unique temp name: threads of one process (farm workers) may build it at once
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=root)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    return path
