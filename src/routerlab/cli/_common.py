"""What the command modules share: the consoles, the error wrapper and the progress bar.

A module of its own so that :mod:`routerlab.cli.collect` and :mod:`routerlab.cli.score` need not
import :mod:`routerlab.cli.main` (which imports them to register their commands).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from routerlab.errors import RouterlabError

F = TypeVar("F", bound=Callable[..., Any])

#: width of tables written to a pipe or a file (a CI log), where rich would otherwise assume 80 columns
PIPE_WIDTH = 120


def _console(*, stderr: bool = False) -> Console:
    """A console that keeps a terminal's width, and is 120 columns wide on a pipe unless COLUMNS says otherwise."""
    out = Console(stderr=stderr)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = PIPE_WIDTH  # leaderboards have 7 columns: at 80 their numbers were cut to "0.80…"
    return out


console = _console()
err_console = _console(stderr=True)

__all__ = ["_friendly_errors", "console", "err_console", "progress_bar", "progress_steps"]


def _friendly_errors(fn: F) -> F:
    """Print errors raised on purpose (RouterlabError, ValueError) as one red line and exit 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (RouterlabError, ValueError) as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def progress_bar(
    description: str, *, before_time: Sequence[str] = (), after_time: Sequence[str] = (), **fields: Any
) -> Iterator[Callable[..., None]]:
    """A rich progress bar: description, bar, done/total, ``before_time``, elapsed, remaining, ``after_time``.

    ``before_time`` / ``after_time`` are templates of text columns (e.g. ``"left {task.fields[left]}"``);
    ``fields`` are the initial values of the task fields they show.
    Yields ``update(**values)``, which passes ``completed=``, ``total=`` and fields on to the task.
    """
    from rich.progress import Progress

    columns = _columns(before_time, after_time)
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(description, total=None, **fields)

        def update(**values: Any) -> None:
            bar.update(task, **values)

        yield update


def _columns(before_time: Sequence[str], after_time: Sequence[str]) -> tuple[Any, ...]:
    """Description, bar, done/total, ``before_time`` texts, elapsed, remaining, ``after_time`` texts."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *(TextColumn(text) for text in before_time),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        *(TextColumn(text) for text in after_time),
    )


@contextlib.contextmanager
def progress_steps() -> Iterator[Callable[[str], Callable[[int, int, str], None]]]:
    """Bars that appear only for the steps that report.

    ``step(description)`` gives a ``(done, total, message)`` callback whose first call adds its bar
    (a library call may skip a step, e.g. encoding when only baselines run).
    """
    from rich.progress import Progress, TaskID

    columns = _columns((), ("{task.fields[last]}",))
    with Progress(*columns, console=console) as bar:
        tasks: dict[str, TaskID] = {}

        def step(description: str) -> Callable[[int, int, str], None]:
            def update(done: int, total: int, message: str = "") -> None:
                if description not in tasks:
                    tasks[description] = bar.add_task(description, total=total or None, last="")
                bar.update(tasks[description], completed=done, total=total or None, last=message)

            return update

        yield step
