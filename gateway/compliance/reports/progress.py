"""A progress bar on stderr while a report streams its rows, only on a terminal.

Shown only when both stderr and stdout are terminals (a report piped or redirected, run by
cron or by the admin API, prints nothing extra); drawn by ``rich``, transient (it is gone
when the report is done).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any, TextIO


def wanted(stdout: TextIO | None = None, stderr: TextIO | None = None) -> bool:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        return out.isatty() and err.isatty()
    except (AttributeError, ValueError):
        return False


def tracked(rows: Iterable[Any], total: int, label: str, *, show: bool | None = None
            ) -> Iterator[Any]:
    """``rows`` unchanged; with a bar on stderr (``show`` None: when ``wanted()``)."""
    if not (wanted() if show is None else show):
        yield from rows
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=Console(file=sys.stderr), transient=True) as bar:
        task = bar.add_task(label, total=total)
        for i, row in enumerate(rows, 1):
            yield row
            if i % 1000 == 0:
                bar.update(task, completed=i)
        bar.update(task, completed=total)


def status(label: str, *, show: bool | None = None):  # type: ignore[no-untyped-def]
    """A spinner on stderr for a step without a count (the chain check), or a no-op."""
    import contextlib

    if not (wanted() if show is None else show):
        return contextlib.nullcontext()
    from rich.console import Console

    return Console(file=sys.stderr).status(label)
