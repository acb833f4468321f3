"""Where named sweep and device files are found: the working directory, the user's folder, the bundle.

``hwbehave run quickstart --device local-cpu`` works from any directory because a *name* (not
a path) is looked up in three places, in this order, and the first hit wins:

1. **working directory**: ``./sweeps/<name>.yaml``, ``./devices/<name>.yaml``
   (``$HWBEHAVE_DEVICES`` replaces ``./devices`` when set);
2. **user**: ``$HWBEHAVE_HOME/<kind>/`` if ``HWBEHAVE_HOME`` is set, else the XDG config folder
   ``${XDG_CONFIG_HOME:-~/.config}/hwbehave/<kind>/``;
3. **bundled**: the sweeps and devices shipped inside the package (``suite/bundled/``, symlinks to
   the checkout's top-level ``sweeps/`` and ``devices/`` folders, copied into wheels as package data).

A value that names an existing file (``my.yaml``, ``../x/sweep.yaml``) is that file. A path
that does not exist but reads like one of ours (``sweeps/quickstart.yaml``, the old default)
is retried as the name under its folder (``quickstart``), so commands written for the checkout
keep working elsewhere. Every lookup returns a :class:`Located` record that says which file
was used and from which source, and the CLI prints it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from suite.errors import ConfigError

#: The kinds of named files, = their folder names.
KINDS = ("sweeps", "devices")
#: Source names, in lookup order.
SOURCES = ("working directory", "user", "bundled")
_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Located:
    """One file found for a name: where it is and which source it came from (or ``path``)."""

    name: str
    path: Path
    source: str  # "path" | one of SOURCES

    def __post_init__(self) -> None:
        if self.source not in ("path", *SOURCES):
            raise ValueError(f"Located.source {self.source!r} is not 'path' or one of {', '.join(SOURCES)}")

    def describe(self) -> str:
        """``quickstart (bundled: /…/sweeps/quickstart.yaml)``, or the path when given as one."""
        if self.source == "path":
            return str(self.path)
        return f"{self.name} ({self.source}: {self.path})"


def bundled_dir(kind: str) -> Path:
    """The package's own folder of ``kind`` (``sweeps`` or ``devices``)."""
    _check_kind(kind)
    return Path(__file__).resolve().parent / "bundled" / kind


def user_dir(kind: str) -> Path:
    """``$HWBEHAVE_HOME/<kind>``, else ``${XDG_CONFIG_HOME:-~/.config}/hwbehave/<kind>``."""
    _check_kind(kind)
    home = os.environ.get("HWBEHAVE_HOME")
    if home:
        return Path(home).expanduser() / kind
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path("~/.config").expanduser())
    return Path(config) / "hwbehave" / kind


def working_dir(kind: str) -> Path:
    """``./<kind>`` (for devices ``$HWBEHAVE_DEVICES`` when set)."""
    _check_kind(kind)
    if kind == "devices" and os.environ.get("HWBEHAVE_DEVICES"):
        return Path(os.environ["HWBEHAVE_DEVICES"])
    return Path(kind)


def search_dirs(kind: str) -> list[tuple[str, Path]]:
    """``(source, folder)`` in lookup order."""
    return [("working directory", working_dir(kind)), ("user", user_dir(kind)), ("bundled", bundled_dir(kind))]


def locate(kind: str, value: str | Path, *, field: str = "") -> Located:
    """The file ``value`` names: an existing path, else the first of the three sources holding it.

    A miss is a ``ConfigError`` naming ``field`` and listing the names each source offers.
    """
    _check_kind(kind)
    text = str(value)
    path = Path(text).expanduser()
    if _is_file(path):
        return Located(name=_stem(path), path=path, source="path")
    for name in _names_for(kind, text):
        for source, folder in search_dirs(kind):
            for suffix in ("", *_SUFFIXES):
                candidate = folder / f"{name}{suffix}"
                if _is_file(candidate) and (suffix or candidate.suffix in _SUFFIXES):
                    return Located(name=name, path=candidate, source=source)
    offered = {source: sorted({n for n, _ in _listing(folder)}) for source, folder in search_dirs(kind)}
    where = "; ".join(f"{source} ({folder}): {', '.join(offered[source][:30]) or 'none'}"
                      for source, folder in search_dirs(kind))
    singular = kind[:-1]
    raise ConfigError(f"no {singular} file or name {text!r}", field=field or f"--{singular}", value=text,
                      expected=f"a {singular} YAML path or a name from {where}")


def available(kind: str) -> list[tuple[Located, Located | None]]:
    """Every named file of ``kind`` in all three sources, each with what shadows it (or ``None``).

    A name found in an earlier source *shadows* the same name in later ones: :func:`locate`
    would return the earlier file.
    """
    out: list[tuple[Located, Located | None]] = []
    first: dict[str, Located] = {}
    for source, folder in search_dirs(kind):
        for name, path in _listing(folder):
            here = Located(name=name, path=path, source=source)
            winner = first.setdefault(name, here)
            out.append((here, None if winner is here else winner))
    return out


def _listing(folder: Path) -> Iterator[tuple[str, Path]]:
    """``(name, path)`` of the YAML files under ``folder`` (names keep sub-folders: ``study/f1-channels``)."""
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*")):
        if path.suffix in _SUFFIXES and path.is_file():
            yield path.relative_to(folder).with_suffix("").as_posix(), path


def _names_for(kind: str, text: str) -> list[str]:
    """Names to try for ``text``: itself without a YAML suffix, and without a leading ``<kind>/``."""
    name = text[: -len(Path(text).suffix)] if Path(text).suffix in _SUFFIXES else text
    names = [name]
    if name.startswith(f"{kind}/"):
        names.append(name[len(kind) + 1:])
    return [n for n in names if n and not Path(n).is_absolute() and ".." not in Path(n).parts]


def _is_file(path: Path) -> bool:
    """``path.is_file()``, False for a name too long for the filesystem (which raises instead)."""
    try:
        return path.is_file()
    except OSError:
        return False


def _stem(path: Path) -> str:
    return path.name[: -len(path.suffix)] if path.suffix in _SUFFIXES else path.name


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown kind of named file {kind!r}; expected one of {', '.join(KINDS)}")
