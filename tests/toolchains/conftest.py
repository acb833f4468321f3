"""Until every toolchain test has moved to ``tests/backends/<name>/``: the shared harness is there."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backends"))
