"""The nncase agent adapter (cannot run here): its statuses."""

from __future__ import annotations

import pytest

from suite.agent.runtimes import Unsupported
from suite.agent.runtimes.nncase import NncaseAdapter


def test_nncase_adapter_refuses_k210_with_the_reason():
    with pytest.raises(Unsupported, match="K210 runs no Linux"):
        NncaseAdapter({"target": "k210"}).load("m.kmodel")


def test_nncase_adapter_without_the_runtime_is_unsupported():
    with pytest.raises(Unsupported, match="nncase_runtime is not importable"):
        NncaseAdapter({}).load("m.kmodel")
