"""The README states the protocol defaults and the contract columns exactly as the code has them."""

from __future__ import annotations

import dataclasses
import re

from suite.agent.protocol import ProtocolSettings, RoundSettings
from suite.results.schema import CONTRACT_COLUMNS, EXTRA_COLUMNS, ROUND_COLUMNS, SCHEMA_VERSION


def test_readme_protocol_table_matches_the_code_defaults(repo):
    text = (repo / "README.md").read_text()
    block = text.split("<!-- protocol-defaults -->")[1].split("<!-- /protocol-defaults -->")[0]
    table = dict(re.findall(r"\| `(\w+)` \| ([\d.]+) \|", block))
    expected = {f.name: str(f.default) for f in dataclasses.fields(ProtocolSettings)}
    assert table == expected


def test_readme_round_table_matches_the_code_defaults(repo):
    text = (repo / "README.md").read_text()
    block = text.split("<!-- round-defaults -->")[1].split("<!-- /round-defaults -->")[0]
    table = dict(re.findall(r"\| `(\w+)` \| ([\d.]+) \|", block))
    assert table == {f.name: str(f.default) for f in dataclasses.fields(RoundSettings)}


def test_readme_documents_every_result_column_and_the_schema_version(repo):
    text = (repo / "README.md").read_text()
    contract = text.split("## Results: the public data contract")[1].split("\n## ")[0]
    assert contract.startswith(f" (`schema_version` {SCHEMA_VERSION})")
    for col in [*CONTRACT_COLUMNS, *EXTRA_COLUMNS, *ROUND_COLUMNS]:
        assert f"`{col}`" in contract, col


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
