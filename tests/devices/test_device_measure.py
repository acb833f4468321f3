"""A device's ``measure:`` block: protocol settings over the sweep's, validated and located at load."""

from __future__ import annotations

import pytest

from suite.devices.config import load_device
from suite.errors import ConfigError
from suite.pipeline import protocol_for
from suite.sweep.expand import load_sweep

SWEEP = "name: s\nop: conv2d\nfixed: {cin: 8, cout: 8, resolution: 8}\nmeasure: {min_runs: 15, min_s: 0.15}\n"


def test_the_device_block_wins_over_the_sweep_and_the_rest_stays() -> None:
    device = load_device("d.yaml", text="name: d\nclass: dsp\ntimeouts: {point_s: 50}\nmeasure: {min_runs: 3}\n")
    protocol = protocol_for(load_sweep("s.yaml", text=SWEEP), device)
    assert (protocol.min_runs, protocol.min_s, protocol.timeout_s) == (3, 0.15, 50)
    plain = protocol_for(load_sweep("s.yaml", text=SWEEP), load_device("d.yaml", text="name: d\nclass: cpu\n"))
    assert plain.min_runs == 15


def test_round_settings_of_the_device_sit_between_the_sweep_and_the_command_line(tmp_path) -> None:
    from suite.models.cache import ArtifactCache
    from suite.pipeline import run_sweep

    sweep = load_sweep("s.yaml", text=SWEEP.replace("min_s: 0.15}", "min_s: 0.0, max_s: 0.05, rounds: 3}"))
    device = load_device("d.yaml", text="name: d\nclass: cpu\nruntime: {name: onnxruntime, threads: 1}\n"
                                        "measure: {rounds: 2, sentinel_every: 0, confirm_s: 0, min_runs: 2}\n")
    run_sweep(sweep, device, tmp_path / "a", cache=ArtifactCache(tmp_path / "cache"))
    run_sweep(sweep, device, tmp_path / "b", rounds=1, cache=ArtifactCache(tmp_path / "cache"))
    import json

    manifests = [json.loads((tmp_path / d / "manifest.json").read_text()) for d in ("a", "b")]
    assert [m["rounds"] for m in manifests] == [2, 1] and manifests[0]["sentinel_every"] == 0
    assert manifests[0]["protocol"]["min_runs"] == 2


@pytest.mark.parametrize("block, field, message", [
    ("{repeat: 2}", "measure.repeat", "unknown key in the measure: block"),
    ("{min_runs: -1}", "measure.min_runs", "must be a non-negative number"),
    ("{rounds: 0}", "measure.rounds", "rounds must be an integer >= 1"),
])
def test_bad_blocks_are_located_config_errors(block: str, field: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as exc:
        load_device("d.yaml", text=f"name: d\nclass: cpu\nmeasure: {block}\n")
    assert (exc.value.file, exc.value.line, exc.value.field) == ("d.yaml", 3, field)
