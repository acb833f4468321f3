"""The backend registry: every backend's names agree with the code they point at."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

import suite.backends
from suite.backends.backend import (
    AGENT_RUNTIMES,
    BACKENDS,
    Backend,
    all_backends,
    backend_for,
    builder_backend,
    formats_of_runtime,
    get_backend,
    register_backend,
    toolchain_backends,
)
from suite.errors import ConfigError

BACKENDS_DIR = Path(suite.backends.__file__).parent
BUILTIN = sorted(p.name for p in BACKENDS_DIR.iterdir() if (p / "backend.py").is_file())


def test_every_backend_folder_registers_the_record_of_its_own_name() -> None:
    assert BUILTIN, "no backend folders found"
    assert [b.name for b in all_backends() if b.name in BUILTIN] == BUILTIN
    for name in BUILTIN:
        module = importlib.import_module(f"suite.backends.{name}.backend")
        assert module.BACKEND is get_backend(name)


@pytest.mark.parametrize("name", BUILTIN)
def test_names_agree(name: str) -> None:
    b = get_backend(name)
    if b.agent_module is not None:
        # built-in adapters live at suite/agent/runtimes/<runtime>.py and register that runtime name
        assert b.agent_module == f"{AGENT_RUNTIMES}.{b.runtime}"
        adapter = importlib.import_module(b.agent_module)
        registered = [c for _, c in inspect.getmembers(adapter, inspect.isclass) if getattr(c, "name", None) == b.runtime]
        assert registered, f"{b.agent_module} registers no adapter named {b.runtime!r}"
        # the controller versions at least what the adapter reports from the device
        assert set(registered[0].modules) <= set(b.version_modules)
    owner = builder_backend(b.format)  # every format has exactly one builder
    cls = b.builder_class()
    assert cls.format == b.format and owner.builder
    if b.builder is not None:
        assert owner is b
        assert cls.__module__.startswith(("suite.models.", f"suite.backends.{b.name}."))
        if b.toolchain:
            assert cls.toolchain == b.toolchain and callable(cls.check) and isinstance(cls.defaults, dict)
    if b.host_runtime is not None:
        assert b.host_runtime_class() is not None
    assert b.format in formats_of_runtime(b.runtime)
    assert backend_for(b.runtime, [b.format]) is b


def test_one_builder_per_format_and_one_backend_per_toolchain() -> None:
    owners = [b.format for b in all_backends() if b.builder]
    assert len(owners) == len(set(owners))
    names = [b.toolchain for b in toolchain_backends()]
    assert len(names) == len(set(names))
    pairs = [(b.runtime, b.format) for b in all_backends()]
    assert len(pairs) == len(set(pairs)), "two backends with one runtime must differ in format"


def test_misses_list_the_valid_names_and_duplicates_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown backend 'nope'.*onnxruntime") as exc:
        get_backend("nope")
    assert exc.value.field == "backend"
    with pytest.raises(ConfigError, match="unknown runtime 'tensorrt'.*expected: one of .*litert.*onnxruntime"):
        formats_of_runtime("tensorrt")
    with pytest.raises(ConfigError, match="runtime litert runs .*tflite.* but formats lists onnx"):
        backend_for("litert", ["onnx"])
    with pytest.raises(ValueError, match="already registered"):
        register_backend(Backend(name="onnxruntime", format="onnx", runtime="onnxruntime",
                                 agent_module="suite.agent.runtimes.onnxruntime"))
    assert "onnxruntime" in BACKENDS


@pytest.mark.parametrize("fields, message", [
    ({"name": "Bad-Name"}, "name must be a lower-case identifier"),
    ({"agent_module": None}, "exactly one of agent_module"),
    ({"host_runtime": "x.y:Z"}, "exactly one of agent_module"),
    ({"builder": "no_colon"}, "builder must be 'module:Class'"),
    ({"timing": "guessed"}, "timing must be one of measured, summary, emulated, estimated"),
    ({"version_modules": (("numpy",),)}, "version_modules holds"),
])
def test_records_are_validated(fields: dict, message: str) -> None:
    base = {"name": "mine", "format": "myformat", "runtime": "myruntime", "agent_module": "my.adapter"}
    with pytest.raises(ValueError, match=message):
        Backend(**{**base, **fields})


def test_the_agent_bundle_ships_the_adapters_of_the_registry_and_finds_them_by_name(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys
    import zipfile

    from suite.devices.agent_bundle import agent_bundle

    bundle = agent_bundle(tmp_path)
    names = {n for n in zipfile.ZipFile(bundle).namelist() if n.startswith("hwagent/runtimes/") and n.endswith(".py")}
    in_agent = {b.runtime for b in all_backends() if b.in_agent}
    assert names == {"hwagent/runtimes/__init__.py"} | {f"hwagent/runtimes/{r}.py" for r in in_agent}
    assert "benchmark_model" not in in_agent  # driven from the controller, not an adapter
    hello = json.loads(subprocess.run([sys.executable, str(bundle), "hello"], capture_output=True, text=True,
                                      check=True, timeout=60).stdout.strip().splitlines()[-1])
    assert set(hello["runtimes"]) == in_agent


def test_the_import_contracts_cover_every_backend_folder() -> None:
    """The independence contract (pyproject.toml) lists each backend folder, so a new one is checked too."""
    import tomllib

    config = tomllib.loads((BACKENDS_DIR.parents[1] / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["id"] == "backends-independent")
    assert contract["modules"] == [f"suite.backends.{name}" for name in BUILTIN]


def test_a_third_party_backend_flows_into_devices_and_the_agent_bundle(tmp_path: Path, monkeypatch) -> None:
    """Registered like an entry point would: its runtime loads in device files, its adapter ships."""
    import json
    import subprocess
    import sys

    from suite.devices.agent_bundle import agent_bundle
    from suite.devices.config import load_device

    pkg = tmp_path / "thirdparty_hw"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "agent_adapter.py").write_text(
        "from . import RuntimeAdapter, register_runtime\n\n\n@register_runtime('thirdrt')\n"
        "class ThirdAdapter(RuntimeAdapter):\n    @classmethod\n    def version(cls):\n        return '9.9'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    record = Backend(name="thirdparty", format="thirdfmt", runtime="thirdrt", builder="suite.models.onnx_builder:OnnxBuilder",
                     agent_module="thirdparty_hw.agent_adapter")
    monkeypatch.setitem(BACKENDS._items, "thirdparty", record)
    device = load_device("d.yaml", text="name: d\nclass: npu\nruntime: {name: thirdrt}\nformats: [thirdfmt]\n")
    assert device.backend is record
    bundle = agent_bundle(tmp_path / "bundle")
    hello = json.loads(subprocess.run([sys.executable, str(bundle), "hello"], capture_output=True, text=True,
                                      check=True, timeout=60).stdout.strip().splitlines()[-1])
    assert hello["runtimes"]["thirdrt"] == "9.9"
