"""What ``hwbehave run`` prints while it measures: a rich progress bar on a terminal, plain lines elsewhere.

A piped or CI run (stderr not a terminal) gets one plain line per :data:`PLAIN_EVERY_S`
seconds (``$HWBEHAVE_PROGRESS_S`` overrides; 0 prints every measurement) and one at the end
of every round, so a log shows the run moving instead of nothing until the end. Paths are
never wrapped (the console soft-wraps: a long path stays one line that a terminal may fold).
"""

from __future__ import annotations

import os
import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from suite import status as st
from suite.sweep.point import describe

#: Seconds between plain progress lines when stderr is not a terminal.
PLAIN_EVERY_S = 10.0


#: Width of tables printed off a terminal (piped, captured, CI): wide enough that rich does not squeeze them.
PLAIN_WIDTH = 220


def stdout_console() -> Console:
    """The console of a command's output: lines never soft-wrapped (paths stay whole) and, off a
    terminal, tables laid out at :data:`PLAIN_WIDTH` columns instead of rich's default 80."""
    plain = Console(soft_wrap=True, highlight=False)
    return plain if plain.is_terminal else Console(soft_wrap=True, highlight=False, width=PLAIN_WIDTH)


def run_console() -> Console:
    """The run's console: stderr, and lines never wrapped (paths stay whole)."""
    return Console(stderr=True, soft_wrap=True)


class RunProgress:
    """An observer for :func:`suite.pipeline.run_sweep` (``observer(event, **data)``) that shows progress.

    Use as a context manager around the run; ``quiet`` shows neither bar nor lines (the
    start and end lines are printed by the caller).
    """

    def __init__(self, console: Console, *, quiet: bool = False, clock: Any = time.monotonic) -> None:
        self.console = console
        self.quiet = quiet
        self.plain = not console.is_terminal and not quiet
        self.every_s = float(os.environ.get("HWBEHAVE_PROGRESS_S", PLAIN_EVERY_S))
        self.clock = clock
        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("failed {task.fields[failed]}"), TimeElapsedColumn(), TextColumn("eta"),
                            TimeRemainingColumn(), TextColumn("{task.fields[current]}"), console=console,
                            disable=quiet or not console.is_terminal, transient=False)
        self.tasks: dict[str, Any] = {}
        self.failures = 0
        self.round: dict[str, Any] = {}
        self.started = clock()
        self.last_line = clock()

    def __enter__(self) -> RunProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)  # type: ignore[arg-type]

    def __call__(self, event: str, **data: Any) -> None:
        if event == "plan":
            rounds = f" ({data['rounds']} rounds)" if data.get("rounds") else ""
            self.console.print(f"run {data['run_id']} → {data['out_dir']}: {data['pending']} of {data['total']} "
                               f"measurements to take{rounds}" + (" (resuming)" if data["pending"] < data["total"]
                                                                  else ""), highlight=False)
            self.tasks["build"] = self.bar.add_task("build", total=data["pending"], failed=0, current="")
        elif event == "build":
            self.bar.update(self.tasks["build"], completed=data["index"], total=data["total"],
                            current=data["point"].label()[:60])
            self._plain(f"build: {data['index']} of {data['total']} distinct points")
        elif event == "built":
            self.bar.update(self.tasks["build"], completed=data["total"], current="")
            if self.plain:
                self._line(f"build: {data['total']} distinct point(s) ready")
        elif event == "measure":
            phase = "confirm" if data.get("phase") == "confirm" else "measure"
            label = f"{phase} r{data['round']}"
            self.tasks["measure"] = self.bar.add_task(label, total=data["total"], failed=0, current="")
            self.round = {"label": label, "total": data["total"], "done": 0, "failed": 0, "start": self.clock()}
        elif event == "confirm":
            self.console.print(f"confirming {data['points']} of {data['candidates']} point(s) whose rounds disagree "
                               f"(round {data['round']}, {data['budget_left_s']:.0f} s of budget left)",
                               highlight=False)
        elif event == "refine":
            floor = f"noise floor {100 * data['floor']:.1f}%" if data.get("floor") is not None else "no noise floor"
            limit = (f"by more than {100 * data['threshold']:.1f}%" if data.get("threshold") is not None
                     else "beyond their intervals")
            self.console.print(f"refining: generation {data['generation']}, {data['points']} of {data['candidates']} "
                               f"point(s) between neighbours that differ {limit} ({floor}), {data['rounds']} "
                               "round(s)", highlight=False)
        elif event == "measured":
            self._measured(data["measurement"])
        elif event in ("device_lost", "device_error"):
            self.console.print(f"[red]{data['error']}[/]", highlight=False)

    def _measured(self, m: Any) -> None:
        if m.status not in st.TIMED:
            self.failures += 1
        what = describe(m.op, m.params, m.dtype)
        text = f"{what}: {m.stats['median_ms']:.4f} ms" if m.stats else f"{what}: {m.status}"
        if "measure" in self.tasks:
            self.bar.update(self.tasks["measure"], advance=1, failed=self.failures, current=text[-70:])
        if not self.round:
            return
        r = self.round
        r["done"] += 1
        r["failed"] += m.status not in st.TIMED
        finished = r["done"] >= r["total"]
        if self.plain and (finished or self.clock() - self.last_line >= self.every_s):
            elapsed = self.clock() - r["start"]
            left = elapsed / r["done"] * (r["total"] - r["done"]) if r["done"] else 0.0
            self._line(f"{r['label']}: {r['done']}/{r['total']} measured, {r['failed']} failed, "
                       f"{elapsed:.0f} s elapsed" + (f", ~{left:.0f} s left" if not finished else " (round done)")
                       + f"; last: {text}")

    def _plain(self, text: str) -> None:
        if self.plain and self.clock() - self.last_line >= self.every_s:
            self._line(text)

    def _line(self, text: str) -> None:
        self.console.print(text, highlight=False, markup=False)
        self.last_line = self.clock()
