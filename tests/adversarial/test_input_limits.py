"""Inputs that used to hang, exhaust memory or crash later: each is a located ConfigError at load.

Every case here hung, took minutes, ended in a ``MemoryError``/``OverflowError`` traceback
or was accepted and failed during the run (issue 12). Each test bounds its run with
``pytest-timeout`` and asserts the error names file, line and field.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from suite.devices.config import load_device
from suite.errors import ConfigError
from suite.farm.config import load_farm
from suite.sweep.expand import load_sweep
from suite.sweep.schema import MAX_POINTS
from suite.yamlfile import MAX_EXPANDED_NODES

from .conftest import assert_clean_exit, hwbehave

pytestmark = pytest.mark.timeout(30)

BASE = "name: t\nop: conv2d\nfixed: {cin: 8, cout: 8, resolution: 8}\n"


def laughs(levels: int = 9, width: int = 10) -> str:
    """Nested aliases: ``width ** levels`` nodes once expanded, a few hundred bytes as written."""
    lines = [f"l0: &l0 [{', '.join(['x'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def located(exc: pytest.ExceptionInfo[ConfigError], path: Path, line: int | None = None) -> None:
    assert exc.value.file == str(path), exc.value
    assert exc.value.line is not None and (line is None or exc.value.line == line), exc.value


# ---- YAML: aliases, encoding, size --------------------------------------------------------------

@pytest.mark.parametrize("loader", ["sweep", "device", "farm"])
def test_billion_laughs_is_refused_by_every_loader(loader, write_yaml):
    head = {"sweep": BASE, "device": "name: d\nclass: cpu\n", "farm": "name: f\njobs: []\n"}[loader]
    path = write_yaml(head + laughs(), f"{loader}.yaml")
    load = {"sweep": load_sweep, "device": load_device, "farm": load_farm}[loader]
    with pytest.raises(ConfigError, match=f"more than {MAX_EXPANDED_NODES:,} nodes") as exc:
        load(path)
    located(exc, path)


def test_aliases_within_the_limit_still_work(write_yaml):
    path = write_yaml("name: t\nop: conv2d\nfixed: &f {cin: 8, cout: 8, resolution: 8}\n"
                      "parts:\n  - {fixed: *f}\n  - {fixed: {<<: *f, cout: 16}}\n")
    assert len(load_sweep(path).points) == 2


def test_recursive_alias_is_located(write_yaml):
    path = write_yaml(BASE + "axes: &a {cout: [*a]}\n")
    with pytest.raises(ConfigError, match="recursive") as exc:
        load_sweep(path)
    located(exc, path, 4)


def test_non_utf8_bytes_name_the_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: t\nop: conv2d\ndescription: caf\xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8") as exc:
        load_sweep(path)
    located(exc, path, 3)
    assert_clean_exit(hwbehave("plan", str(path)), 2)


def test_control_characters_and_huge_integers_in_yaml_are_located(write_yaml):
    path = write_yaml(BASE + 'description: "a\x01b"\n')
    with pytest.raises(ConfigError, match="control characters"):
        load_sweep(path)
    path = write_yaml(BASE.replace("cin: 8", "cin: " + "9" * 5000), "digits.yaml")
    with pytest.raises(ConfigError, match="integer string conversion|digits"):
        load_sweep(path)


def test_deep_nesting_is_an_error_not_a_recursion_traceback(write_yaml):
    path = write_yaml(BASE + "axes: {cout: " + "[" * 3000 + "]" * 3000 + "}\n")
    with pytest.raises(ConfigError):
        load_sweep(path)


# ---- where filters ------------------------------------------------------------------------------

@pytest.mark.parametrize("expr", ["cout < 10**10**10", "cout ** cout ** cout", "2 ** (cout * 1000) > 0"])
def test_unbounded_powers_are_refused(expr, write_yaml):
    path = write_yaml(BASE.replace("cout: 8, ", "") + f"axes: {{cout: [8, 16]}}\nwhere: \"{expr}\"\n")
    with pytest.raises(ConfigError, match="too large") as exc:
        load_sweep(path)
    located(exc, path, 5)


@pytest.mark.parametrize("expr", ["'a' * cout * cout", "'%999999999d' % cout", "(1,) * 10 ** 9"])
def test_arithmetic_on_strings_and_tuples_is_refused(expr, write_yaml):
    path = write_yaml(BASE.replace("cout: 8, ", "") + f"axes: {{cout: [8]}}\nwhere: \"{expr} != 0\"\n")
    with pytest.raises(ConfigError, match="takes numbers"):
        load_sweep(path)


def test_where_may_read_dtype(write_yaml):
    path = write_yaml(BASE + "dtypes: [fp32, fp16, int8]\nwhere: \"dtype == 'fp32' or cout > 100\"\n")
    assert [p.dtype for p in load_sweep(path).points] == ["fp32"]
    path = write_yaml(BASE.replace("cout: 8, ", "") + "axes: {cout: [8, 16]}\ndtypes: [fp32, int8]\n"
                      "where: [\"cout > 8\", \"dtype != 'int8'\"]\n", "two.yaml")
    assert [(p.params["cout"], p.dtype) for p in load_sweep(path).points] == [(16, "fp32")]


# ---- sweep size ---------------------------------------------------------------------------------

@pytest.mark.parametrize("axis", ["{range: [1, 1e12, 1]}", "{logspace: [1, 1000000, 1000000000]}",
                                  "{range: [0, .inf, 1]}", "{pow2: [1, 100000000000000000000000]}"])
def test_generators_refuse_before_materialising(axis, write_yaml):
    path = write_yaml(BASE.replace("cout: 8, ", "") + f"axes:\n  cout: {axis}\n")
    with pytest.raises(ConfigError) as exc:
        load_sweep(path)
    located(exc, path, 5)
    assert exc.value.field == "axes.cout"


def test_ten_million_points_are_refused_with_the_cap_named(write_yaml):
    path = write_yaml(BASE.replace("cout: 8, ", "").replace("cin: 8, ", "")
                      + "axes:\n  cin: {range: [1, 1000]}\n  cout: {range: [1, 100]}\n  kernel: {range: [1, 100]}\n")
    with pytest.raises(ConfigError, match=f"cap of {MAX_POINTS:,}") as exc:
        load_sweep(path)
    located(exc, path, 4)
    assert exc.value.field == "max_points" and exc.value.value == 10_000_000
    p = hwbehave("plan", str(path))
    assert_clean_exit(p, 2)
    assert f"{path}:4" in p.stderr


def test_the_cap_is_overridable_per_sweep_and_counts_every_part(write_yaml):
    text = BASE.replace("cout: 8, ", "") + "axes: {cout: {range: [1, 50]}}\n"
    assert len(load_sweep(write_yaml(text + "max_points: 50\n")).points) == 50
    with pytest.raises(ConfigError, match="more than the 40 points"):
        load_sweep(write_yaml(text + "max_points: 40\n", "small.yaml"))
    parts = ("name: t\nmax_points: 60\nparts:\n"
             "  - {op: conv2d, fixed: {cin: 8, resolution: 8}, axes: {cout: {range: [1, 40]}}}\n"
             "  - {op: conv2d, fixed: {cin: 4, resolution: 8}, axes: {cout: {range: [1, 40]}}}\n")
    with pytest.raises(ConfigError, match="more than the 20 points"):
        load_sweep(write_yaml(parts, "parts.yaml"))
    with pytest.raises(ConfigError, match="12 left after the earlier parts"):
        load_sweep(write_yaml(parts.replace("{range: [1, 40]}}}\n  -", "{range: [1, 48]}}}\n  -")
                              .replace("{cin: 4, resolution: 8}, axes: {cout: {range: [1, 40]}}",
                                       "{cin: 4, resolution: 8}, axes: {cout: [1, 2, 3], kernel: [1, 3, 5, 7, 9]}"),
                              "parts2.yaml"))


# ---- values accepted at load that crashed later -------------------------------------------------

@pytest.mark.parametrize("line, field", [
    ("measure: {timeout_s: 0}", "measure.timeout_s"),
    ("measure: {max_runs: 0, min_runs: 0}", "measure.min_runs"),
    ("measure: {min_runs: 1.0e+15}", "measure.min_runs"),
    ("measure: {min_runs: 6000}", "measure"),             # above the default max_runs
    ("measure: {max_s: .inf}", "measure.max_s"),
    ("measure: {repeat: 2}", "measure.repeat"),           # renamed to rounds: the error names it
    ("measure: {rounds: 1000000}", "measure.rounds"),
    ("measure: {rounds: 0}", "measure.rounds"),
    ("measure: {sentinel_every: -1}", "measure.sentinel_every"),
    ("measure: {confirm_s: .inf}", "measure.confirm_s"),
    ("seed: -1", "seed"),
    (f"seed: {2**70}", "seed"),
    ("fixed: {cin: 8, cout: 1000000000000000000000000000000, resolution: 8}", "fixed.cout"),
    ("fixed: {cin: 8, cout: 8, resolution: .nan}", "fixed.resolution"),
    ("name: ../../../escaped", "name"),
    ("name: /srv/abs", "name"),
])
def test_sweep_values_that_crashed_later_are_located(line, field, write_yaml):
    key = line.split(":", 1)[0]
    text = "\n".join(x for x in BASE.splitlines() if not x.startswith(key + ":")) + "\n" + line + "\n"
    path = write_yaml(text)
    with pytest.raises(ConfigError) as exc:
        load_sweep(path)
    located(exc, path, text.splitlines().index(line) + 1)
    assert exc.value.field == field, exc.value


def test_costs_beyond_int64_are_located(write_yaml):
    path = write_yaml("name: t\nop: conv2d\nfixed: {cin: 4000000000, cout: 4000000000, resolution: 100000}\n")
    with pytest.raises(ConfigError, match="64 bits"):
        load_sweep(path)


@pytest.mark.parametrize("line, field", [
    ("runtime: {name: bogus}", "runtime.name"),
    ("runtime: {affinity: 'abc'}", "runtime.affinity"),
    ("runtime: {affinity: '3-1'}", "runtime.affinity"),
    ("runtime: {affinity: '0x0'}", "runtime.affinity"),
    ("runtime: {affinity: [99999]}", "runtime.affinity"),
    ("runtime: {threads: 100000}", "runtime.threads"),
    ('workdir: "/srv/bench\\n"', "workdir"),
    ("workdir: /", "workdir"),
    ('python: "python3\\x00"', "python"),
    ("env: {'A B': x}", "env"),
    ('transport: {kind: ssh, host: "h\\nx"}', "transport.host"),
])
def test_device_values_that_crashed_later_are_located(line, field, write_yaml):
    path = write_yaml(f"name: d\nclass: cpu\n{line}\n", "device.yaml")
    with pytest.raises(ConfigError) as exc:
        load_device(path)
    located(exc, path, 3)
    assert exc.value.field == field, exc.value


def test_a_block_scalar_workdir_with_its_newline_is_refused(write_yaml):
    path = write_yaml("name: d\nclass: cpu\nworkdir: |\n  /srv/bench\n", "device.yaml")
    with pytest.raises(ConfigError, match="control character") as exc:
        load_device(path)
    located(exc, path, 3)


def test_valid_affinities_still_load(write_yaml):
    for spec in ("[0, 2]", "'0-3,6'", "'0xf0'", "'5'"):
        dev = load_device(write_yaml(f"name: d\nclass: cpu\nruntime: {{affinity: {spec}}}\n", "device.yaml"))
        assert dev.runtime.affinity is not None


def farm_files(tmp_path: Path, farm_extra: str = "", sweep_name: str = "ok", job: str = "") -> Path:
    (tmp_path / "devices").mkdir(exist_ok=True)
    (tmp_path / "devices" / "d.yaml").write_text("name: d\nclass: cpu\n")
    (tmp_path / "s.yaml").write_text(f"name: {json.dumps(sweep_name)}\nop: conv2d\nfixed: {{cin: 4, cout: 4}}\n")
    farm = tmp_path / "farm.yaml"
    farm.write_text(f"name: f\ndevices_dir: devices\njobs:\n  - {{sweep: s.yaml, devices: [d]{job}}}\n{farm_extra}")
    return farm


@pytest.mark.parametrize("extra, field", [("concurrency: -4\n", "concurrency"), ("concurrency: {d: 0}\n", "concurrency.d"),
                                          ("seed: -1\n", "seed")])
def test_farm_values_that_crashed_later_are_located(extra, field, tmp_path):
    path = farm_files(tmp_path, extra)
    with pytest.raises(ConfigError) as exc:
        load_farm(path)
    located(exc, path, 5)
    assert exc.value.field == field, exc.value


def test_cli_seed_and_repeat_ranges(write_yaml):
    sweep = write_yaml(BASE)
    for flag, value in (("--seed", "-1"), ("--seed", str(2**70)), ("--seed", "2**70"), ("--repeat", "0"),
                        ("--rounds", "0"), ("--rounds", "1000000"), ("--confirm-s", "-1"), ("--confirm-s", "inf")):
        p = hwbehave("run", str(sweep), flag, value, "--quiet")
        assert_clean_exit(p, 2)
        assert flag in p.stderr
