"""Build the agent's one-file bundle (a zipapp of ``suite/agent``), cached by content.

The bundle holds the package under the name ``hwagent`` plus a ``__main__`` that calls
``hwagent.main.main``; the same file runs locally and on remote hosts. Beside each module it
holds that module compiled by this interpreter (a checked hash-based ``.pyc``, PEP 552):
``zipimport`` cannot cache bytecode and compiled every module twice (once to name the file,
once to run it), about 50 ms of each agent process's start; an interpreter of another version
ignores the ``.pyc`` (its magic number differs) and compiles the source as before. Its adapters are the
backend registry's: each backend's ``agent_module`` ships as ``hwagent/runtimes/<runtime>.py``
(a third-party backend's adapter too), where the agent finds it by name.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import marshal
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

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


def compiled(name: str, source: bytes) -> bytes:
    """``source`` (the module at ``name`` inside the bundle) as a checked hash-based ``.pyc``."""
    code = compile(source, name, "exec", dont_inherit=True)
    flags = (0b11).to_bytes(4, "little")  # hash-based, checked against the source beside it
    return importlib.util.MAGIC_NUMBER + flags + importlib.util.source_hash(source) + marshal.dumps(code)


def _source_files() -> list[tuple[str, Path]]:
    """``(name in the bundle, source file)`` of every module the bundle ships."""
    files = []
    for path in sorted(AGENT_DIR.rglob("*.py")):
        rel = path.relative_to(AGENT_DIR).as_posix()
        if rel.startswith("runtimes/") and rel != "runtimes/__init__.py":
            continue  # the adapters come from the backends (below)
        files.append(("hwagent/" + rel, path))
    for runtime, path in sorted(adapter_sources().items()):
        files.append((f"hwagent/runtimes/{runtime}.py", path))
    return files


def _sources(files: list[tuple[str, Path]]) -> list[tuple[str, bytes]]:
    sources = [(name, path.read_bytes()) for name, path in files]
    return [*sources, *((name + "c", compiled(name, data)) for name, data in sources), ("__main__.py", MAIN.encode())]


#: The last bundle built in this process, by the name, path, mtime and size of its sources: a
#: session asks for it once per batch, and compiling and zipping the sources took 25-50 ms.
_BUILT: dict[tuple[Any, ...], tuple[bytes, str]] = {}


def bundle_bytes() -> tuple[bytes, str]:
    """The zipapp content and its sha256 (timestamps fixed, so equal sources hash equal)."""
    files = _source_files()
    key = tuple((name, str(path), st.st_mtime_ns, st.st_size) for name, path in files for st in [path.stat()])
    built = _BUILT.get(key)
    if built is None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in _sources(files):
                info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                zf.writestr(info, data)
        data = buf.getvalue()
        built = (data, hashlib.sha256(data).hexdigest())
        _BUILT.clear()
        _BUILT[key] = built
    return built


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
