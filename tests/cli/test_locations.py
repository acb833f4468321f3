"""Named sweeps and devices: working directory, user folder, bundled set, in that order; a wheel ships them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from suite.cli.main import main
from suite.errors import ConfigError
from suite.locations import available, bundled_dir, locate, user_dir

REPO = Path(__file__).resolve().parents[2]
TINY = ("name: {name}\nop: conv2d\nfixed: {{cin: 4, cout: 4, resolution: 8}}\n"
        "measure: {{warmup_runs: 1, warmup_s: 0, min_runs: 3, min_s: 0.01, max_s: 0.1, rounds: 1, sentinel_every: 0, "
        "confirm_s: 0}}\n")


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory outside the checkout, with an empty user folder."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HWBEHAVE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HWBEHAVE_DEVICES", raising=False)
    return cwd


def test_bundled_folders_are_the_checkouts_folders():
    # one copy: the package's folders point at the top-level ones
    assert bundled_dir("sweeps").resolve() == (REPO / "sweeps").resolve()
    assert bundled_dir("devices").resolve() == (REPO / "devices").resolve()
    assert (bundled_dir("sweeps") / "quickstart.yaml").is_file()


def test_lookup_order_working_directory_then_user_then_bundled(elsewhere: Path):
    found = locate("sweeps", "quickstart")
    assert found.source == "bundled" and found.path.name == "quickstart.yaml"
    (user_dir("sweeps")).mkdir(parents=True)
    (user_dir("sweeps") / "quickstart.yaml").write_text(TINY.format(name="mine"))
    assert locate("sweeps", "quickstart").source == "user"
    (elsewhere / "sweeps").mkdir()
    (elsewhere / "sweeps" / "quickstart.yaml").write_text(TINY.format(name="here"))
    found = locate("sweeps", "quickstart")
    assert found.source == "working directory" and "working directory" in found.describe()
    # the old default path form works too, and an existing path is itself
    assert locate("sweeps", "sweeps/quickstart.yaml").source == "path"
    shutil.rmtree(elsewhere / "sweeps")
    assert locate("sweeps", "sweeps/quickstart.yaml").source == "user"
    assert locate("sweeps", "study/f1-channels-quick").source == "bundled"
    shadowed = [(here.source, by.source) for here, by in available("sweeps") if here.name == "quickstart" and by]
    assert shadowed == [("bundled", "user")]


def test_xdg_config_dir_without_hwbehave_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.delenv("HWBEHAVE_HOME", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert user_dir("devices") == tmp_path / "xdg" / "hwbehave" / "devices"


def test_a_miss_lists_every_source(elsewhere: Path):
    with pytest.raises(ConfigError) as err:
        locate("devices", "no-such-board", field="--device")
    text = str(err.value)
    assert "no-such-board" in text and "working directory" in text and "user" in text and "local-cpu" in text


def test_devices_list_shows_all_three_sources(elsewhere: Path, capsys: pytest.CaptureFixture[str]):
    (user_dir("devices")).mkdir(parents=True)
    shutil.copy(REPO / "devices" / "local-cpu.yaml", user_dir("devices") / "local-cpu.yaml")
    (elsewhere / "devices").mkdir()
    text = (REPO / "devices" / "local-cpu.yaml").read_text().replace("name: local-cpu", "name: bench-box")
    (elsewhere / "devices" / "bench-box.yaml").write_text(text)
    assert main(["devices", "list"]) == 0
    out = capsys.readouterr().out
    lines = {ln.split()[0] + " " + ln.split()[6]: ln for ln in out.splitlines()[2:]}
    assert "bench-box working" in lines
    assert "local-cpu user" in lines and "local-cpu bundled" in lines
    assert "shadowed by the user file" in lines["local-cpu bundled"]


def test_wheel_ships_sweeps_and_devices_and_runs_from_another_directory(tmp_path: Path):
    """Build a wheel from a copy of the checkout, install it into a fresh venv, run elsewhere."""
    src = tmp_path / "src"
    skip_everywhere = shutil.ignore_patterns("__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache",
                                             ".mypy_cache", ".import_linter_cache")

    def ignore(folder: str, names: list[str]) -> set[str]:
        top = {".venv", ".git", "results", "build", "site"} if Path(folder) == REPO else set()
        return set(skip_everywhere(folder, names)) | (top & set(names))

    shutil.copytree(REPO, src, symlinks=True, ignore=ignore)
    assert (src / "suite" / "bundled" / "sweeps").is_symlink()
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(wheels), str(src)], check=True, capture_output=True, timeout=300)
    wheel = next(wheels.glob("hwbehave-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], check=True, capture_output=True, text=True).stdout.strip())
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps",
                    "-q", str(wheel)], check=True, capture_output=True, timeout=300)
    # the dependencies come from this interpreter's site-packages (a plain path entry: its .pth
    # files, among them the editable install of the checkout, are not processed)
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    shutil.rmtree(src)  # nothing of the checkout is left to find
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    home = tmp_path / "home"
    (home / "sweeps").mkdir(parents=True)
    (home / "sweeps" / "tiny.yaml").write_text(TINY.format(name="tiny"))
    env = {**os.environ, "HWBEHAVE_HOME": str(home)}
    env.pop("HWBEHAVE_DEVICES", None)
    exe = str(venv / "bin" / "hwbehave")

    def hw(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([exe, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)

    where = hw("plan", "quickstart")
    assert where.returncode == 0, where.stderr
    assert f"bundled: {site}" in where.stdout.replace("\n", "") and "54 points" in where.stdout
    listing = hw("devices", "list")
    assert listing.returncode == 0 and "local-cpu" in listing.stdout and str(site) in listing.stdout
    run = hw("run", "tiny", "--quiet", "--out", str(tmp_path / "run"))
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"sweep: tiny (user: {home / 'sweeps' / 'tiny.yaml'})" in run.stderr
    assert f"device: local-cpu (bundled: {site}" in run.stderr.replace("\n", "")
    assert (tmp_path / "run" / "measurements.parquet").is_file()
