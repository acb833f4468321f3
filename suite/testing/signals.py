"""Starting a real ``hwbehave`` process that a test can interrupt like Ctrl-C."""

from __future__ import annotations

import signal


def ctrl_c_default() -> None:
    """``preexec_fn`` for a child that must honour SIGINT: a job a shell starts in the background
    (``make test &``, ``nohup``) ignores SIGINT, its children inherit that, and Python then never
    installs the handler that raises ``KeyboardInterrupt``."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
