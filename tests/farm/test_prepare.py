"""Preparation ops against a fake sysfs tree (no root needed), in their documented order."""

from __future__ import annotations

from pathlib import Path

import pytest

from suite.devices.config import Device
from suite.farm.config import CooldownSpec, PrepareSpec
from suite.farm.prepare import (
    Cooldown,
    CpuFrequency,
    CpuGovernor,
    IrqAffinity,
    LocalHost,
    Preparation,
    StopServices,
    parse_cpu_list,
    prepare_ops,
)


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    """Two CPUs with cpufreq, two thermal zones at 70 °C and 40 °C, three IRQs."""
    for c in (0, 1):
        d = tmp_path / f"sys/devices/system/cpu/cpu{c}/cpufreq"
        d.mkdir(parents=True)
        for leaf, value in {"scaling_governor": "ondemand", "scaling_available_governors": "ondemand performance",
                            "scaling_min_freq": "800000", "scaling_max_freq": "2000000",
                            "scaling_cur_freq": "1200000", "cpuinfo_min_freq": "800000",
                            "cpuinfo_max_freq": "2400000"}.items():
            (d / leaf).write_text(value + "\n")
    for i, t in enumerate((70000, 40000)):
        z = tmp_path / f"sys/class/thermal/thermal_zone{i}"
        z.mkdir(parents=True)
        (z / "temp").write_text(f"{t}\n")
        (z / "type").write_text(f"zone{i}\n")
    for irq in ("1", "2", "9"):
        d = tmp_path / f"proc/irq/{irq}"
        d.mkdir(parents=True)
        (d / "smp_affinity_list").write_text("0-1\n")
    return tmp_path


def read(root: Path, rel: str) -> str:
    return (root / rel).read_text().strip()


def test_governor_and_frequency_apply_and_restore(sysfs):
    host = LocalHost(sysfs)
    gov = CpuGovernor(host, "performance")
    assert gov.available() == (True, "")
    assert gov.show() == {"cpu0": "ondemand", "cpu1": "ondemand"}
    freq = CpuFrequency(host, "max", cpus=[1])
    prep = Preparation([gov, freq])
    results = prep.apply()
    assert all(r.applied and r.error is None for r in results)
    assert read(sysfs, "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor") == "performance"
    assert read(sysfs, "sys/devices/system/cpu/cpu1/cpufreq/scaling_min_freq") == "2400000"
    assert read(sysfs, "sys/devices/system/cpu/cpu1/cpufreq/scaling_max_freq") == "2400000"
    assert read(sysfs, "sys/devices/system/cpu/cpu0/cpufreq/scaling_max_freq") == "2000000"  # not a bench CPU
    prep.restore()
    assert read(sysfs, "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor") == "ondemand"
    assert read(sysfs, "sys/devices/system/cpu/cpu1/cpufreq/scaling_min_freq") == "800000"


def test_unavailable_ops_say_why(tmp_path, sysfs):
    assert CpuGovernor(LocalHost(tmp_path / "empty"), "performance").available()[0] is False
    ok, why = CpuGovernor(LocalHost(sysfs), "turbo").available()
    assert not ok and "not offered" in why
    assert "no CPUs" in IrqAffinity(LocalHost(sysfs), None).available()[1]


def test_failed_write_is_recorded_not_raised(sysfs):
    (sysfs / "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor").chmod(0o444)
    host = LocalHost(sysfs)

    class ReadOnly(LocalHost):
        def write(self, path: str, value: str) -> None:
            raise PermissionError(f"{path}: read-only")

    res = Preparation([CpuGovernor(ReadOnly(sysfs), "performance")]).apply()
    assert res[0].available and not res[0].applied and "read-only" in res[0].error
    assert host.read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor") == "ondemand"


def test_irq_affinity_moves_interrupts_off_bench_cpus(sysfs):
    op = IrqAffinity(LocalHost(sysfs), [1])
    Preparation([op]).apply()
    assert read(sysfs, "proc/irq/9/smp_affinity_list") == "0"
    op.restore()
    assert read(sysfs, "proc/irq/9/smp_affinity_list") == "0-1"


def test_cooldown_waits_until_below_threshold(sysfs):
    zone = sysfs / "sys/class/thermal/thermal_zone0/temp"
    slept = []

    def sleep(s: float) -> None:
        slept.append(s)
        if len(slept) == 3:
            zone.write_text("50000\n")

    op = Cooldown(LocalHost(sysfs), CooldownSpec(below_c=60, poll_s=1.0, pause_s=0.5), sleep=sleep)
    assert op.show() == {"max_temperature_c": 70.0}
    op.apply()
    assert slept == [1.0, 1.0, 1.0, 0.5]


def test_cooldown_gives_up_after_max_wait(sysfs):
    t = [0.0]

    def sleep(s: float) -> None:
        t[0] += s

    op = Cooldown(LocalHost(sysfs), CooldownSpec(below_c=60, poll_s=10, max_wait_s=30), sleep=sleep,
                  clock=lambda: t[0])
    res = Preparation([op]).apply()
    assert "TimeoutError" in res[0].error and t[0] == 30


def test_stop_services_through_run_and_restart_on_restore(sysfs):
    calls = []
    active = {"cron": True, "thermald": False}

    def runner(argv, timeout_s):
        calls.append(argv)
        if argv[1] == "is-active":
            return (0, "active\n", "") if active[argv[2]] else (3, "inactive\n", "")
        if argv[1] == "stop":
            active[argv[2]] = False
        if argv[1] == "start":
            active[argv[2]] = True
        return 0, "", ""

    op = StopServices(LocalHost(sysfs, runner=runner), ["cron", "thermald"])
    Preparation([op]).apply()
    assert ["systemctl", "stop", "cron"] in calls and ["systemctl", "stop", "thermald"] not in calls
    op.restore()
    assert active["cron"] is True


def test_ops_come_in_documented_order(sysfs):
    device = Device.model_validate({"name": "d", "class": "cpu", "prepare": ["true"],
                                    "runtime": {"affinity": "1"}})
    spec = PrepareSpec(governor="performance", frequency="max", irq_affinity=True, stop_services=["cron"],
                       cooldown=CooldownSpec(below_c=80))
    names = [op.name for op in prepare_ops(device, spec, LocalHost(sysfs))]
    assert names == ["device_commands", "stop_services", "cpu_governor", "cpu_frequency", "irq_affinity", "cooldown"]


def test_parse_cpu_list():
    assert parse_cpu_list("0-2,5") == [0, 1, 2, 5]
    assert parse_cpu_list("0x5") == [0, 2]
    assert parse_cpu_list([3, 1]) == [1, 3]
    assert parse_cpu_list(None) is None
