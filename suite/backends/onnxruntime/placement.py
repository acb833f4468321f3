"""Where ONNX Runtime placed each node: parsed from its session log or its profile JSON.

Two sources say the same thing:

* the VERBOSE session log (``log_severity_level=0``), ``VerifyEachNodeIsAssignedToAnEp``::

      [V:onnxruntime:, session_state.cc:1313 VerifyEachNodeIsAssignedToAnEp]  Node(s) placed on [CPUExecutionProvider]. Number of nodes: 1
      [V:onnxruntime:, session_state.cc:1315 VerifyEachNodeIsAssignedToAnEp]   Inverse (odd_0)

  older builds write ``All nodes have been placed on [X].``; logs pasted by people often
  keep the counts and elide the node lists (``......``);
* the profile JSON (``enable_profiling``): each node event's ``args.provider``, which the
  agent's onnxruntime adapter reads on the device (:func:`placement_from_profile`, shared
  from the agent so host and device agree).

A node on ``CPUExecutionProvider`` while another provider was preferred is a fallback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from suite.agent.runtimes.onnxruntime import CPU_PROVIDER, fallback_nodes, placement_from_profile

__all__ = ["ProviderPlacement", "PlacementLog", "parse_placement_log", "placement_from_profile",
           "fallback_nodes", "log_fallback"]

_PLACED = re.compile(r"(?:Node\(s\)|All nodes) placed on \[(\w+)\]\. Number of nodes: (\d+)")
_ALL_LEGACY = re.compile(r"All nodes have been placed on \[(\w+)\]")
_NODE = re.compile(r"VerifyEachNodeIsAssignedToAnEp\]\s{3,}(\S.*?)\s*$")
_UNASSIGNED = "Some nodes were not assigned to the preferred execution providers"


@dataclass(frozen=True)
class ProviderPlacement:
    """Nodes one provider got: the logged count (``None`` if not logged) and the listed nodes."""

    provider: str
    count: int | None
    nodes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when the log listed every node it counted."""
        return self.count is not None and len(self.nodes) == self.count


@dataclass(frozen=True)
class PlacementLog:
    """Node placement read from one ORT log (``providers`` in log order)."""

    providers: dict[str, ProviderPlacement] = field(default_factory=dict)
    all_on: str | None = None
    unassigned_warning: bool = False

    def as_placement(self) -> dict[str, list[str]]:
        """Provider → node labels, the shape :func:`placement_from_profile` returns."""
        return {p: list(v.nodes) for p, v in self.providers.items()}


def parse_placement_log(text: str) -> PlacementLog:
    """Parse ORT session-log text (any line prefixes, Linux or Windows format)."""
    providers: dict[str, ProviderPlacement] = {}
    current: str | None = None
    all_on = None
    warned = False
    for line in text.splitlines():
        if _UNASSIGNED in line:
            warned = True
            continue
        m = _PLACED.search(line)
        if m:
            current = m.group(1)
            providers[current] = ProviderPlacement(current, int(m.group(2)), [])
            if "All nodes placed" in line:
                all_on = current
            continue
        m = _ALL_LEGACY.search(line)
        if m:
            all_on = current = m.group(1)
            providers[current] = ProviderPlacement(current, None, [])
            continue
        m = _NODE.search(line)
        if m and current is not None:
            providers[current].nodes.append(m.group(1))
            continue
        if current is not None and "VerifyEachNodeIsAssignedToAnEp" not in line:
            current = None  # the placement block ended
    return PlacementLog(providers=providers, all_on=all_on, unassigned_warning=warned)


def log_fallback(log: PlacementLog, preferred: str) -> list[str]:
    """Fallback nodes of a parsed log: listed CPU nodes, or a count when the list was elided."""
    if preferred == CPU_PROVIDER or CPU_PROVIDER not in log.providers:
        return []
    cpu = log.providers[CPU_PROVIDER]
    nodes = fallback_nodes(log.as_placement(), preferred)
    if cpu.complete or cpu.count is None:
        return nodes
    missing = cpu.count - len(cpu.nodes)
    more = "more " if nodes else ""
    return nodes + [f"{missing} {more}node(s) on {CPU_PROVIDER} (not listed in the log)"]
