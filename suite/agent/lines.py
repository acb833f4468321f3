"""Read lines from a pipe with a deadline (the supervisor's worker pipe, the host's agent pipe)."""

from __future__ import annotations

import os
import selectors
import time


class LineReader(object):
    """Lines from a file descriptor; ``read_line`` waits at most ``timeout_s`` for one."""

    def __init__(self, fd):
        self.fd = fd
        self.buffer = b""
        self.selector = selectors.DefaultSelector()
        self.selector.register(fd, selectors.EVENT_READ)

    def read_line(self, timeout_s):
        """Next line without its newline; ``None`` at EOF (an unterminated tail stays in
        :attr:`buffer`); ``TimeoutError`` when no complete line came within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError()
            if not self.selector.select(left):
                continue
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode(errors="replace")

    def close(self):
        self.selector.close()
