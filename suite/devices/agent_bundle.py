"""Build the agent's one-file bundle (a zipapp of ``suite/agent``), cached by content.

The bundle holds the package under the name ``hwagent`` plus a ``__main__`` that calls
``hwagent.main.main``; the same file runs locally and on remote hosts. Its adapters are the
backend registry's: each backend's ``agent_module`` ships as ``hwagent/runtimes/<runtime>.py``
(a third-party backend's adapter too), where the agent finds it by name.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import tempfile
import zipfile
from pathlib import Path

import suite.agent
from suite.backends.backend import all_backends
from suite.errors import ConfigError

AGENT_DIR = Path(suite.agent.__file__).parent
MAIN = "import sys\nfrom hwagent.main import main\nsys.exit(main())\n"


def adapter_sources() -> dict[str, Path]:
    """Runtime name → source file of its adapter, for every backend that runs in the agent."""
    found: dict[str, Path] = {}
    for backend in all_backends():
        if backend.agent_module is None:
            continue
        spec = importlib.util.find_spec(backend.agent_module)
        if spec is None or not spec.origin:
            raise ConfigError(f"backend {backend.name}: agent module {backend.agent_module} not found",
                              field="agent_module", value=backend.agent_module)
        path = Path(spec.origin)
        if found.setdefault(backend.runtime, path) != path:
            raise ConfigError(f"backends disagree on the adapter of runtime {backend.runtime}: "
                              f"{found[backend.runtime]} and {path}", field="agent_module", value=backend.agent_module)
    return found


def _sources() -> list[tuple[str, bytes]]:
    files = []
    for path in sorted(AGENT_DIR.rglob("*.py")):
        rel = path.relative_to(AGENT_DIR).as_posix()
        if rel.startswith("runtimes/") and rel != "runtimes/__init__.py":
            continue  # the adapters come from the backends (below)
        files.append(("hwagent/" + rel, path.read_bytes()))
    for runtime, path in sorted(adapter_sources().items()):
        files.append((f"hwagent/runtimes/{runtime}.py", path.read_bytes()))
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
