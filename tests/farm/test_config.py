"""Farm YAML: validation with file and line, device selection by name, class and tag."""

from __future__ import annotations

import pytest

from suite.errors import ConfigError
from suite.farm.config import load_farm


def test_selectors_resolve_names_classes_tags(farm_dir):
    farm_dir.sweep("s", [4, 8])
    farm_dir.device("a", "name: a\nclass: cpu\ntags: [rpi]\n")
    farm_dir.device("b", "name: b\nclass: npu\nformats: [onnx]\n")
    farm_dir.device("ex", "name: ex\nclass: cpu\nexample: true\n")
    path = farm_dir.farm("""\
        jobs:
          - sweep: sweeps/s.yaml
            devices: ["tag:rpi", "class:npu"]
          - name: again
            sweep: sweeps/s.yaml
            devices: ["*"]
            rounds: 2
        concurrency: {default: 1, a: 2}
        """)
    farm = load_farm(path)
    assert sorted(farm.devices) == ["a", "b"]  # the example device only by name
    assert [t.job for t in farm.tasks_for("a")] == ["s", "again"]
    assert farm.concurrency_for("a") == 2 and farm.concurrency_for("b") == 1
    assert farm.tasks_for("a")[1].rounds == 2


@pytest.mark.parametrize("body, line, words", [
    ("jobs:\n  - sweep: sweeps/s.yaml\n    devices: [a]\n    colour: red\n", 9, "unknown key"),
    ("jobs:\n  - sweep: sweeps/s.yaml\n    devices: [a]\n    repeat: 2\n", 9, "repeat is now rounds"),
    ("jobs:\n  - sweep: sweeps/s.yaml\n    devices: [nope]\n", 8, "unknown device"),
    ("jobs:\n  - sweep: sweeps/missing.yaml\n    devices: [a]\n", 7, "sweep file not found"),
    ("jobs:\n  - sweep: sweeps/s.yaml\n    devices: [a]\nretry: {attempts: 0}\n", 9, "greater than or equal"),
    ("jobs:\n  - sweep: sweeps/s.yaml\n    devices: [\"class:toaster\"]\n", 8, "unknown device class"),
    ("jobs:\n  - sweep: sweeps/s.yaml\n    devices: [a]\n  - sweep: sweeps/s.yaml\n    devices: [a]\n", 9,
     "same run directory"),
])
def test_config_errors_name_file_and_line(farm_dir, body, line, words):
    farm_dir.sweep("s", [4])
    farm_dir.device("a")
    path = farm_dir.farm(body)
    with pytest.raises(ConfigError) as err:
        load_farm(path)
    assert words in str(err.value)
    assert err.value.file == str(path) and err.value.line == line, str(err.value)
