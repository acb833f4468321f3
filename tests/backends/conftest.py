"""Tests of the backends: one folder per backend (``tests/backends/<name>/``), as in ``suite/backends/``.

``backend_harness`` (fixture files, a tiny sweep, the OpenVINO requirement) sits beside this
file; putting this folder on ``sys.path`` lets every backend folder import it.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
