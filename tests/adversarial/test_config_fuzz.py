"""Property-based fuzzing of the three config loaders (sweep, device, farm) with hypothesis.

The property: whatever the bytes, a loader either returns a value or raises a located
``ConfigError``, within the per-example deadline; never another exception (a traceback
for the user) and never a hang. Inputs: random YAML trees, valid files with one value
replaced (huge numbers, control characters, deep nesting, aliases), and raw byte
mutations of valid files. Example counts are bounded so the suite stays fast in CI.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from suite.devices.config import Device, load_device  # noqa: E402
from suite.errors import ConfigError  # noqa: E402
from suite.farm.config import load_farm  # noqa: E402
from suite.pipeline import protocol_for  # noqa: E402
from suite.sweep.expand import load_sweep  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
FUZZ = settings(max_examples=200, deadline=timedelta(seconds=3), derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

VALID_SWEEP = """name: fuzz
op: conv2d
fixed: {cin: 8, resolution: 8}
axes:
  cout: [{range: [8, 16, 4]}, {pow2: [32, 64]}]
  kernel: [1, 3]
where: "kernel <= resolution"
dtypes: [fp32, int8]
measure: {min_runs: 3, max_s: 0.1, rounds: 2, confirm_s: 5}
seed: 3
"""
VALID_DEVICE = """name: fuzz-dev
class: cpu
transport: {kind: ssh, host: 127.0.0.1, port: 22, user: bench}
runtime: {name: onnxruntime, threads: 1, affinity: "0-1"}
formats: [onnx]
workdir: /tmp/hwbehave
env: {OMP_NUM_THREADS: "1"}
timeouts: {connect_s: 5, point_s: 30}
"""
VALID_FARM = """name: fuzz-farm
devices_dir: devices
jobs:
  - {sweep: sweep.yaml, devices: [local], rounds: 2, seed: 1}
concurrency: 1
retry: {attempts: 2, backoff_s: 0}
"""

#: Values that broke loaders or later stages: huge and non-finite numbers, control characters, paths.
NASTY = st.sampled_from([
    10**30, -(10**30), 2**63, -(2**63) - 1, 1e308, float("inf"), float("nan"), -1, 0, 1e15, "1e15",
    "\n", "a\nb", "\x00", "\x1b[2J", "../../../x", "/srv/abs", "~", "", " ", "*", "&a", "{", "]", "'", '"',
    "10**10**10", "cout ** cout ** cout", "$(touch /tmp/pwned)", "é" * 50, "x" * 5000, True, None, [], {},
])

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30), NASTY)
trees = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=5), st.dictionaries(st.text(max_size=10), children, max_size=5)), max_leaves=30)


def _loader(kind: str, tmp_path: Path):
    if kind == "sweep":
        return load_sweep, "sweep.yaml"
    if kind == "device":
        return load_device, "device.yaml"
    devices = tmp_path / "devices"
    devices.mkdir(exist_ok=True)
    (devices / "local.yaml").write_text("name: local\nclass: cpu\n")
    (tmp_path / "sweep.yaml").write_text(VALID_SWEEP)
    return load_farm, "farm.yaml"


INT64 = range(-(2**63), 2**63)


def check_usable(kind: str, loaded: object) -> None:
    """What loads must not crash later: a valid protocol, int64-sized parameters, costs and seed."""
    if kind != "sweep":
        return
    sweep = loaded
    protocol_for(sweep, Device.model_validate({"name": "d", "class": "cpu"}))  # type: ignore[arg-type]
    assert sweep.seed is None or sweep.seed in INT64 and sweep.seed >= 0  # type: ignore[attr-defined]
    for point in sweep.points[:200]:  # type: ignore[attr-defined]
        assert all(v in INT64 for v in point.params.values() if isinstance(v, int)), point.params
        assert max(point.macs, point.flops, point.bytes_total) in INT64, point


def check_loads_or_config_error(kind: str, tmp_path: Path, data: bytes) -> None:
    """The property itself: a usable value or a ConfigError (with a file), nothing else."""
    load, name = _loader(kind, tmp_path)
    path = tmp_path / name
    path.write_bytes(data)
    try:
        loaded = load(path)
    except ConfigError as exc:
        assert exc.file is not None, exc
        return
    except RecursionError:  # pragma: no cover - would be a bug: report the input
        pytest.fail(f"RecursionError on {data[:200]!r}")
    check_usable(kind, loaded)


def dump(tree: object) -> bytes:
    try:
        return yaml.safe_dump(tree, allow_unicode=True).encode("utf-8", "surrogatepass")
    except (yaml.YAMLError, UnicodeEncodeError, ValueError):
        return repr(tree).encode("utf-8", "replace")


VALID = {"sweep": VALID_SWEEP, "device": VALID_DEVICE, "farm": VALID_FARM}


@pytest.mark.parametrize("kind", list(VALID))
def test_valid_fuzz_seeds_load(kind, tmp_path):
    load, name = _loader(kind, tmp_path)
    (tmp_path / name).write_text(VALID[kind])
    assert load(tmp_path / name) is not None


@pytest.mark.parametrize("kind", list(VALID))
@FUZZ
@given(tree=trees)
def test_random_yaml_trees(kind, tree, tmp_path):
    check_loads_or_config_error(kind, tmp_path, dump(tree))


@pytest.mark.parametrize("kind", list(VALID))
@FUZZ
@given(data=st.data())
def test_valid_files_with_one_value_replaced(kind, data, tmp_path):
    doc = yaml.safe_load(VALID[kind])
    # walk to a random node and replace it (or add a key beside it)
    node: object = doc
    path: list[object] = []
    while isinstance(node, (dict, list)) and node and data.draw(st.booleans(), label="descend"):
        key = data.draw(st.sampled_from(sorted(node) if isinstance(node, dict) else list(range(len(node)))))
        path.append(key)
        node = node[key]  # type: ignore[index]
    value = data.draw(st.one_of(NASTY, trees), label="value")
    if not path:
        doc[data.draw(st.sampled_from(["name", "extra", "measure", "runtime", "jobs"]))] = value
    else:
        parent = doc
        for key in path[:-1]:
            parent = parent[key]  # type: ignore[index]
        parent[path[-1]] = value  # type: ignore[index]
    check_loads_or_config_error(kind, tmp_path, dump(doc))


@pytest.mark.parametrize("kind", list(VALID))
@FUZZ
@given(data=st.data())
def test_byte_mutations_of_valid_files(kind, data, tmp_path):
    raw = bytearray(VALID[kind].encode())
    for _ in range(data.draw(st.integers(1, 6), label="mutations")):
        pos = data.draw(st.integers(0, len(raw)), label="pos")
        op = data.draw(st.sampled_from(["insert", "replace", "delete", "alias-bomb"]), label="op")
        blob = data.draw(st.sampled_from([b"\xff", b"\x00", b"\n", b"&a", b"*a", b": ", b"[", b"{", b"'", b"\t",
                                          b"9" * 400, b"\xe9", b"<<: *a\n", b"!!python/object:os.system "]))
        if op == "insert":
            raw[pos:pos] = blob
        elif op == "replace":
            raw[pos:pos + len(blob)] = blob
        elif op == "delete":
            del raw[pos:pos + data.draw(st.integers(1, 20))]
        else:
            raw[pos:pos] = b"\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    check_loads_or_config_error(kind, tmp_path, bytes(raw))


@FUZZ
@given(expr=st.text(alphabet="cout kernl0123456789*+-/%()<>=! andornt'\"dtype", max_size=60))
def test_random_where_expressions(expr, tmp_path):
    text = VALID_SWEEP.replace('where: "kernel <= resolution"', "where: " + yaml.safe_dump(expr).strip()
                               .removesuffix("...").strip())
    check_loads_or_config_error("sweep", tmp_path, text.encode())


def test_the_repository_files_still_load():
    for f in sorted((REPO / "sweeps").rglob("*.yaml")):
        assert load_sweep(f).points
    for f in sorted((REPO / "devices").glob("*.yaml")):
        assert load_device(f).name
