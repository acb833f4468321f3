"""The ``Artifact`` record and the builder interface (docs/architecture.md §1, build stage).

Which builder makes which format is the backend registry's business
(:func:`suite.backends.backend.builder_for`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from suite import status as st
from suite.sweep.point import Point


@dataclass(frozen=True)
class Artifact:
    """One model file for one point in one format and dtype (or the reason there is none)."""

    point_id: str
    format: str
    dtype: str
    status: str
    path: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    build_s: float | None = None
    error: str | None = None
    log: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        st.check(self.status)
        if self.status == st.OK and not self.path:
            raise ValueError(f"Artifact {self.point_id}/{self.format}: status ok but no path")
        if self.status != st.OK and not self.error:
            raise ValueError(f"Artifact {self.point_id}/{self.format}: status {self.status} needs an error text")

    @property
    def ok(self) -> bool:
        return self.status == st.OK

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Artifact:
        return cls(**json.loads(text))


class Builder(Protocol):
    """Turns points into artifacts of one format. A builder never touches a device.

    Every built-in builder is a :class:`suite.models.builder.CachedBuilder` (the one shared
    cache-and-failure path); a plug-in may be anything with these three members.
    """

    format: str
    #: Points per ``build_many`` call between progress updates (1 for a serial builder).
    chunk: int

    def build_many(self, points: list[Point]) -> list[Artifact]:
        """Artifacts of ``points`` in order (built or fetched from cache); failures are statuses."""
        ...

    def close(self) -> None:
        """Release what the builder holds (process pools, helper builders)."""
        ...
