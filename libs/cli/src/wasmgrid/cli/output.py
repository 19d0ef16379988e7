"""How the CLI prints: tables and text for people, JSON for programs, bars only on terminals.

Results go to stdout; notes, bars and errors to stderr. Colour and progress bars
appear only when stdout is a terminal and ``NO_COLOR`` is unset; ``--quiet`` drops
notes and bars; ``--json`` prints one JSON document and nothing else on stdout.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from wasmgrid.client import Progress as ProgressCallback
from wasmgrid.client import to_jsonable

#: Width of output that is not a terminal (pipes, files): wide enough not to wrap rows.
PIPE_WIDTH = 200


def interactive() -> bool:
    """Whether bars and colour may be drawn: stdout and stderr are terminals, no NO_COLOR."""
    return sys.stdout.isatty() and sys.stderr.isatty() and not os.environ.get("NO_COLOR")


class Output:
    """The printing side of one command invocation."""

    def __init__(self, *, json_mode: bool = False, quiet: bool = False) -> None:
        self.json_mode = json_mode
        self.quiet = quiet
        colour = interactive()
        self.out = Console(
            highlight=False,
            no_color=not colour,
            width=None if sys.stdout.isatty() else PIPE_WIDTH,
        )
        self.err = Console(stderr=True, highlight=False, no_color=not colour)
        self.bars = colour and not quiet and not json_mode

    def json(self, value: Any) -> None:
        """Print `value` (a model, list or dict) as indented JSON on stdout."""
        sys.stdout.write(json.dumps(to_jsonable(value), indent=2, allow_nan=False) + "\n")
        sys.stdout.flush()

    def text(self, text: str = "", *, style: str | None = None) -> None:
        """A line of result text on stdout (markup-safe)."""
        self.out.print(escape(text), style=style, soft_wrap=True)

    def rich(self, *renderables: Any) -> None:
        """Rich renderables (tables, styled text) on stdout."""
        self.out.print(*renderables, soft_wrap=True)

    def note(self, text: str) -> None:
        """A side remark on stderr, dropped by --quiet and --json."""
        if not self.quiet and not self.json_mode:
            self.err.print(escape(text), style="dim", soft_wrap=True)

    def error(self, text: str) -> None:
        """One error line on stderr (never dropped)."""
        self.err.print(escape(f"wasmgrid: {text}"), style="bold red", soft_wrap=True)

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, empty: str) -> None:
        """A table of `rows` under `columns`, or the `empty` note when there are none."""
        if not rows:
            self.note(empty)
            return
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        for name in columns:
            numeric = name.isupper() and name in NUMERIC_COLUMNS
            table.add_column(name, justify="right" if numeric else "left", overflow="fold")
        for row in rows:
            table.add_row(*(escape(str(cell)) for cell in row))
        self.rich(table)

    def fields(self, pairs: Sequence[tuple[str, Any]]) -> None:
        """``key  value`` lines, keys aligned; empty values left out."""
        shown = [(k, v) for k, v in pairs if v not in ("", None, (), [])]
        width = max((len(k) for k, _ in shown), default=0)
        for key, value in shown:
            line = f"[bold]{escape(key.ljust(width))}[/]  {escape(str(value))}"
            self.out.print(line, soft_wrap=True)

    @contextmanager
    def transfer(self, description: str, total: int) -> Iterator[ProgressCallback]:
        """A progress bar for a transfer of `total` bytes; yields the SDK's callback."""
        if not self.bars:
            yield lambda done, total: None
            return
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.err,
            transient=False,
        )
        task = progress.add_task(description, total=total or None)

        def update(done: int, size: int) -> None:
            progress.update(task, completed=done, total=size or None)

        with progress:
            yield update


NUMERIC_COLUMNS = frozenset(
    {
        "DOWNLOADS",
        "RUNTIME",
        "ALL TIME",
        "SIZE",
        "RATING",
        "ENTRIES",
        "HITS",
        "MISSES",
        "HIT %",
        "BYTES",
        "VALUE",
    }
)


def size(n: int) -> str:
    """Bytes in binary units: ``4.2 KiB``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def when(moment: datetime | None) -> str:
    """A timestamp as ``2026-12-03 10:11 UTC``; empty when unset."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def count(n: int) -> str:
    """An integer with thousands separators."""
    return f"{n:,}"


SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[int]) -> str:
    """A one-line bar chart of `values` (empty input, empty line)."""
    if not values:
        return ""
    top = max(values)
    if top == 0:
        return SPARKS[0] * len(values)
    steps = len(SPARKS) - 1
    return "".join(SPARKS[0 if v <= 0 else max(1, round(v * steps / top))] for v in values)
