"""The agent bundle: a zipapp of suite/agent with bytecode for this interpreter beside the sources."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

from suite.devices.agent_bundle import agent_bundle, bundle_bytes

#: Runs the bundle's ``hello`` with an audit hook that lists every module compiled from source.
COMPILES = """
import json, runpy, sys
compiled = []
def hook(event, args):
    if event == "compile" and isinstance(args[1], str) and "hwagent/" in args[1]:
        compiled.append(args[1])
sys.addaudithook(hook)
sys.argv = [sys.argv[1], "hello"]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit:
    pass
print(json.dumps(compiled))
"""


def compiled_from_source(bundle: Path) -> list[str]:
    p = subprocess.run([sys.executable, "-c", COMPILES, str(bundle)], capture_output=True, text=True, timeout=120,
                       check=True)
    return json.loads(p.stdout.splitlines()[-1])


def test_the_agent_imports_its_modules_from_bytecode_not_source(tmp_path):
    bundle = agent_bundle(tmp_path)
    names = zipfile.ZipFile(bundle).namelist()
    sources = [n for n in names if n.startswith("hwagent/") and n.endswith(".py")]
    assert sources and all(n + "c" in names for n in sources)
    assert compiled_from_source(bundle) == []


def test_bytecode_of_another_python_version_falls_back_to_the_source(tmp_path):
    """A board's Python (3.7 ...) reads a different magic number: it must compile the .py instead."""
    bundle = agent_bundle(tmp_path / "good")
    foreign = tmp_path / "foreign.pyz"
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(foreign, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith(".pyc"):
                data = b"\x00\x00\r\n" + data[4:]  # another version's magic number
            dst.writestr(info, data)
    compiled = compiled_from_source(foreign)
    assert any(name.endswith("hwagent/supervisor.py") for name in compiled)


def test_stale_bytecode_is_not_used_when_the_source_beside_it_differs(tmp_path):
    """The .pyc files are checked against their source's hash: an edited source wins."""
    bundle = agent_bundle(tmp_path / "good")
    edited = tmp_path / "edited.pyz"
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(edited, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "hwagent/protocol.py":
                data = data.replace(b'AGENT_VERSION = "', b'AGENT_VERSION = "edited-')
            dst.writestr(info, data)
    p = subprocess.run([sys.executable, str(edited), "hello"], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(p.stdout.splitlines()[-1])["agent_version"].startswith("edited-")


def test_the_bundle_is_the_same_bytes_for_the_same_sources():
    assert bundle_bytes() == bundle_bytes()
    other = subprocess.run([sys.executable, "-c", "from suite.devices.agent_bundle import bundle_bytes; "
                            "print(bundle_bytes()[1])"], capture_output=True, text=True, timeout=60, check=True)
    assert other.stdout.strip() == bundle_bytes()[1]  # another process: the same digest, the same file name
