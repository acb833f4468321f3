"""`make run` installs only the core: the CLI must load and run without any optional extra.

Each command runs in a subprocess whose import system refuses every optional package, as
on a machine where only ``pip install hwbehave`` was done.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from suite.cli.main import COMMANDS, OPTIONAL_MODULES

BLOCKER = """
import sys
BLOCKED = {blocked!r}
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Blocker())
from suite.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def core_only(*args: str) -> subprocess.CompletedProcess:
    code = BLOCKER.format(blocked=sorted(OPTIONAL_MODULES))
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=240)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_loads_without_optional_packages(command):
    p = core_only(command, "--help")
    assert p.returncode == 0, p.stderr[-2000:]


def test_run_and_analyse_work_and_report_names_the_missing_extra(write_yaml, tmp_path):
    sweep = write_yaml("name: core\nop: conv2d\nfixed: {cin: 4, cout: 4, resolution: 8}\n"
                       "measure: {warmup_runs: 1, warmup_s: 0, min_runs: 3, min_s: 0.01, max_s: 0.1}\n")
    p = core_only("run", str(sweep), "--out", str(tmp_path / "r"), "--quiet")
    assert p.returncode == 0, p.stderr[-2000:]
    assert core_only("analyse", str(tmp_path / "r")).returncode == 0
    p = core_only("report", str(tmp_path / "r"))
    assert p.returncode == 2 and "pip install 'hwbehave[report]'" in p.stderr and "Traceback" not in p.stderr
