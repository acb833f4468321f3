"""Values that become file names, remote paths or seeds: what is safe, checked at load.

Names that end up as one path component (a sweep's name in ``results/<sweep>--<device>--…``,
a farm job or instance) must be one *safe segment*: letters, digits, ``.``, ``_``, ``-``,
starting with a letter or digit, so ``../../x`` or ``/srv/abs`` cannot leave the results
root. Paths a device file gives (``workdir``, ``python``, key files) may be anything a
filesystem allows except control characters: a newline in a remote path is how a shell
line or a parsed ``pwd`` goes wrong.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field

from suite.errors import ConfigError

#: One path component: no separators, no leading dot (so never ``.`` or ``..``), at most 100 chars.
SEGMENT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
_SEGMENT = re.compile(SEGMENT_PATTERN)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

#: Seeds are stored as int64 (manifest, runs table) and feed numpy's SeedSequence: 0 … 2**63-1.
MAX_SEED = 2**63 - 1

#: A name that becomes one path component (pydantic field type).
SafeName = Annotated[str, Field(pattern=SEGMENT_PATTERN)]


def is_segment(name: str) -> bool:
    """True if ``name`` is one safe path component."""
    return bool(_SEGMENT.match(name))


def check_segment(name: str, field: str) -> str:
    """``name`` if it is one safe path component, else a ``ConfigError`` naming ``field``."""
    if not isinstance(name, str) or not is_segment(name):
        raise ConfigError("not a safe name for a path component", field=field, value=name,
                          expected="letters, digits, '.', '_' or '-', starting with a letter or digit "
                                   "(at most 100 characters)")
    return name


def no_control_characters(text: str) -> str:
    """``text`` if it has no control character (newline, tab, NUL, …); else ``ValueError``."""
    found = _CONTROL.search(text)
    if found:
        raise ValueError(f"control character {found.group()!r} at position {found.start()} is not allowed "
                         "(a newline in a path splits a remote command or its output)")
    return text


#: A path or command word from a config file: any text without control characters (pydantic field type).
PathText = Annotated[str, AfterValidator(no_control_characters)]


def check_out_dir(path: Path, field: str = "--out") -> Path:
    """``path`` if it is a directory or does not exist yet; a file there is a ``ConfigError``."""
    if path.exists() and not path.is_dir():
        raise ConfigError("exists and is not a directory", field=field, value=str(path),
                          expected="a run directory, or a path that does not exist yet")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError("a parent of the path is a file", field=field, value=str(path),
                                  expected=f"a path below a directory ({parent} is a file)")
            break
    return path


def seed_arg(text: str) -> int:
    """``argparse`` type of ``--seed``: an integer from 0 to :data:`MAX_SEED`."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer (expected 0 … 2**63-1)") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{value} is out of range (expected 0 … 2**63-1)")
    return value


def count_arg(maximum: int) -> Callable[[str], int]:
    """``argparse`` type of a count flag (``--rounds``): an integer from 1 to ``maximum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not 1 <= value <= maximum:
            raise argparse.ArgumentTypeError(f"{value} is out of range (expected 1 … {maximum})")
        return value

    parse.__name__ = "count"
    return parse
