"""The README states the protocol defaults and the contract columns exactly as the code has them."""

from __future__ import annotations

import dataclasses
import re

from suite.agent.protocol import ProtocolSettings
from suite.results.schema import CONTRACT_COLUMNS


def test_readme_protocol_table_matches_the_code_defaults(repo):
    text = (repo / "README.md").read_text()
    block = text.split("<!-- protocol-defaults -->")[1].split("<!-- /protocol-defaults -->")[0]
    table = dict(re.findall(r"\| `(\w+)` \| ([\d.]+) \|", block))
    expected = {f.name: str(f.default) for f in dataclasses.fields(ProtocolSettings)}
    assert table == expected


def test_readme_documents_every_contract_column(repo):
    text = (repo / "README.md").read_text()
    for col in CONTRACT_COLUMNS:
        assert f"`{col}`" in text, col


def test_readme_gives_the_two_fresh_machine_commands(repo):
    text = (repo / "README.md").read_text()
    assert "make run" in text and "make test" in text
    assert "make test" in (repo / ".ci" / "run").read_text()


def test_readme_threshold_table_matches_the_code_defaults(repo):
    from suite.analysis.thresholds import Thresholds

    text = (repo / "README.md").read_text()
    block = text.split("<!-- detector-thresholds -->")[1].split("<!-- /detector-thresholds -->")[0]
    table = dict(re.findall(r"\| `(\w+)` \| ([\d.]+) \|", block))
    expected = {f.name: str(f.default) for f in dataclasses.fields(Thresholds) if f.name != "quant_rel_rmse"}
    assert table == expected


def test_readme_documents_every_anomaly_column(repo):
    from suite.analysis.records import ANOMALY_COLUMNS

    text = (repo / "README.md").read_text()
    for col in ANOMALY_COLUMNS:
        assert f"`{col}`" in text, col
