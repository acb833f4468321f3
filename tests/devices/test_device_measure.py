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


@pytest.mark.parametrize("block, field, message", [
    ("{repeat: 2}", "measure.repeat", "unknown key in the measure: block"),
    ("{min_runs: -1}", "measure.min_runs", "must be a non-negative number"),
])
def test_bad_blocks_are_located_config_errors(block: str, field: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as exc:
        load_device("d.yaml", text=f"name: d\nclass: cpu\nmeasure: {block}\n")
    assert (exc.value.file, exc.value.line, exc.value.field) == ("d.yaml", 3, field)
