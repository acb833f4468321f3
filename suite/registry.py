"""Plug-in registries: registration by decorator, duplicates rejected, misses list names.

Third-party plug-ins arrive through entry points (group ``hwbehave.<kind>``), loaded
lazily on the first lookup miss so that importing hwbehave reads nothing from disk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Generic, TypeVar

from suite.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of plug-ins of one kind (ops, runtimes, transports, ...)."""

    def __init__(self, kind: str, entry_point_group: str | None = None) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._items: dict[str, T] = {}
        self._entry_points_loaded = False

    def register(self, name: str, *aliases: str) -> Callable[[T], T]:
        """Decorator registering an object under ``name`` (and ``aliases``)."""

        def decorate(obj: T) -> T:
            for key in (name, *aliases):
                self.add(key, obj)
            return obj

        return decorate

    def add(self, name: str, obj: T) -> None:
        """Register ``obj`` under ``name``; a second registration of a name is an error."""
        if name in self._items and self._items[name] is not obj:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = obj

    def get(self, name: str, *, field: str | None = None) -> T:
        """Return the plug-in called ``name`` or raise ``ConfigError`` listing valid names."""
        if name not in self._items:
            self._load_entry_points()
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.kind} {name!r}",
                field=field or self.kind,
                value=name,
                expected="one of " + ", ".join(sorted(self._items)),
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def names(self) -> list[str]:
        """Sorted registered names (aliases included)."""
        self._load_entry_points()
        return sorted(self._items)

    def items(self) -> Iterator[tuple[str, T]]:
        """Iterate ``(name, plug-in)`` pairs in registration order."""
        self._load_entry_points()
        return iter(list(self._items.items()))

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded or not self.entry_point_group:
            return
        self._entry_points_loaded = True
        for ep in metadata.entry_points(group=self.entry_point_group):
            if ep.name not in self._items:
                self.add(ep.name, ep.load())
