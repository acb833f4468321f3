"""The one exception hierarchy of hwbehave.

Per-point failures are never raised through a sweep: they become measurements with a
status (see :mod:`suite.status`). These exceptions are for bad input and for failures
that stop a whole command (an unreachable device, a refused results file).
"""

from __future__ import annotations

from typing import Any


class HwbehaveError(Exception):
    """Base class of every error hwbehave raises on purpose."""


class ConfigError(HwbehaveError):
    """Bad user input: a YAML file, a flag or a parameter value.

    Carries where the bad value is (``file``, ``line``), which ``field`` and ``value``,
    and what was ``expected`` so the message tells the user how to fix it.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        value: Any = None,
        expected: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.value = value
        self.expected = expected
        self.reason = message
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        parts = [where + self.reason]
        if self.field is not None:
            parts.append(f"field: {self.field}")
        if self.value is not None:
            parts.append(f"value: {self.value!r}")
        if self.expected:
            parts.append(f"expected: {self.expected}")
        return " | ".join(parts)

    def located(self, file: str | None, line: int | None) -> ConfigError:
        """Return a copy of this error placed at ``file``:``line`` (keeps an existing place)."""
        return ConfigError(
            self.reason,
            file=self.file or file,
            line=self.line or line,
            field=self.field,
            value=self.value,
            expected=self.expected,
        )


class DeviceError(HwbehaveError):
    """A device cannot be used at all: unreachable, refused auth, no disk, bad workdir."""

    def __init__(self, message: str, *, device: str | None = None, host: str | None = None) -> None:
        self.device = device
        self.host = host
        prefix = f"device {device}: " if device else ""
        super().__init__(prefix + message)


class AgentProtocolError(DeviceError):
    """The on-device agent speaks another protocol version or sent a malformed line."""


class BuildError(HwbehaveError):
    """A builder or toolchain failed in a way that is not specific to one point."""


class ResultsError(HwbehaveError):
    """A results directory is unreadable, from a newer schema, or not comparable."""


class Busy(HwbehaveError):
    """What a command needs is held by another process (a device, a run directory).

    ``holder`` holds what the lock file says about the other process (pid, host, …).
    The CLI exits with :data:`EXIT_BUSY`.
    """

    def __init__(self, what: str, holder: dict[str, Any] | None = None, waited_s: float = 0.0,
                 hint: str | None = None) -> None:
        self.what = what
        self.holder = holder or {}
        who = ", ".join(f"{k} {v}" for k, v in self.holder.items()) or "unknown holder"
        extra = f" after waiting {waited_s:.0f} s" if waited_s else ""
        super().__init__(f"{what} is busy ({who}){extra}" + (f"; {hint}" if hint else ""))


#: Exit status of a command refused because a device or run directory is held elsewhere:
#: EX_TEMPFAIL from sysexits.h, "try again later" (``hwbehave run`` and ``hwbehave farm run``).
EXIT_BUSY = 75


class ToolchainError(HwbehaveError):
    """A vendor toolchain is missing or misconfigured."""
