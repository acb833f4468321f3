import json

import pytest

from suite.analysis import ANOMALY_COLUMNS, Anomaly, anomalies_to_frame
from suite.analysis.records import evidence_json, rank


def make(**kw):
    base = dict(kind="staircase", device="npu", sweep="s", axis="cout", at="16", magnitude=0.38, finding="F1",
                message="On npu, latency rises in steps.", evidence_json="{}")
    return Anomaly(**{**base, **kw})


def test_frame_has_exactly_the_contract_columns():
    frame = anomalies_to_frame([make(), make(magnitude=0.1, finding="")])
    assert tuple(frame.columns) == ANOMALY_COLUMNS
    assert frame["magnitude"].tolist() == [0.38, 0.1]
    assert tuple(anomalies_to_frame([]).columns) == ANOMALY_COLUMNS


@pytest.mark.parametrize("field, value, words", [
    ("finding", "F8", "Anomaly.finding"),
    ("magnitude", -0.1, "Anomaly.magnitude"),
    ("magnitude", float("nan"), "Anomaly.magnitude"),
    ("message", "  ", "Anomaly.message"),
    ("evidence_json", "[1]", "JSON object"),
    ("evidence_json", "{bad", "not JSON"),
    ("kind", "", "Anomaly.kind"),
    ("device", None, "Anomaly.device"),
])
def test_invalid_fields_are_named(field, value, words):
    with pytest.raises(ValueError, match=words):
        make(**{field: value})


def test_evidence_json_is_plain_and_rank_orders_by_magnitude():
    import numpy as np
    text = evidence_json({"a": np.float64(0.5), "b": float("inf"), "c": [np.int64(3)]})
    assert json.loads(text) == {"a": 0.5, "b": None, "c": [3]}
    ranked = rank([make(magnitude=0.1), make(magnitude=0.9), make(magnitude=0.5)])
    assert [a.magnitude for a in ranked] == [0.9, 0.5, 0.1]
