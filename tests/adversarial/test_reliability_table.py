"""The README's reliability table names tests that exist (so the promise and its proof stay together)."""

from __future__ import annotations

import re


def test_every_test_named_in_the_reliability_table_exists(repo):
    block = (repo / "README.md").read_text().split("<!-- reliability -->")[1].split("<!-- /reliability -->")[0]
    rows = [line for line in block.splitlines() if line.startswith("| ") and "`test_" in line]
    assert len(rows) >= 15
    for row in rows:
        module = None
        for ref in re.findall(r"`([^`]*::test_\w+)`", row):
            path, _, name = ref.partition("::")
            module = path or module
            assert module, ref
            source = (repo / "tests" / "adversarial" / module).read_text()
            assert re.search(rf"^def {name}\(", source, re.M), f"{module}::{name} named in README does not exist"
