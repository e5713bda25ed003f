"""Shared CLI pieces: options, run-directory resolution, the rich reporter, error handling."""

from __future__ import annotations

import re
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from alpool.core import reporting
from alpool.core.errors import AlpoolError, AlreadyFinishedError, MissingStepError
from alpool.core.params import parse_key_values, validation_message

T = TypeVar("T")
console = Console(stderr=True)

def flag(*decls: str, **kwargs: Any) -> Any:
    """Return a boolean ``typer.Option`` shown as a flag in help (no ``<bool>`` value column)."""
    return typer.Option(*decls, metavar="", **kwargs)


RunDirOpt = Annotated[Path | None, typer.Option("--run-dir", "-r", help="Run directory (default: the one the previous command used).")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="Where dataset files are (default: $ALPOOL_DATA).")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of every random choice of this step.")]
ForceOpt = Annotated[bool, flag("--force", help="Redo a finished step (its files are replaced).")]
QuietOpt = Annotated[bool, flag("--quiet", "-q", help="No progress bars.")]
DebugOpt = Annotated[bool, flag("--debug", help="Show the traceback of errors.")]
ThreadsOpt = Annotated[int | None, typer.Option(
    "--threads", help="Torch threads per process (default: $ALPOOL_THREADS, $OMP_NUM_THREADS, else the idle cores "
    "shared by the workers; 1 on a busy machine).")]
ParamOpt = Annotated[list[str] | None, typer.Option("--param", "-p", help="Extra option KEY=VALUE of the chosen entry (repeatable).")]


class RichReporter(reporting.Reporter):
    """Render library progress with rich progress bars on stderr."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("[bold blue]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=console, transient=False,
        )
        self.depth = 0

    def start(self, description: str, total: int | None) -> object:
        """Add a progress bar (nested loops get indented bars that vanish when done)."""
        if self.depth == 0:
            self.progress.start()
        self.depth += 1
        return self.progress.add_task("  " * (self.depth - 1) + description, total=total, status="")

    def advance(self, handle: object, amount: int = 1, status: str = "") -> None:
        """Advance a bar."""
        self.progress.update(handle, advance=amount, status=status)  # type: ignore[arg-type]

    def stop(self, handle: object) -> None:
        """Remove nested bars; stop the display with the outermost one."""
        self.depth -= 1
        if self.depth > 0:
            self.progress.remove_task(handle)  # type: ignore[arg-type]
        else:
            self.progress.stop()
            for task_id in list(self.progress.task_ids):
                self.progress.remove_task(task_id)

    def info(self, message: str) -> None:
        """Print a dim message."""
        console.print(f"[dim]{message}[/dim]")

    def warning(self, message: str) -> None:
        """Print one yellow ``warning:`` line."""
        show_warning(message)


class QuietReporter(reporting.Reporter):
    """``--quiet``: no progress and no messages, only warnings (one yellow line each)."""

    def warning(self, message: str) -> None:
        """Print one yellow ``warning:`` line."""
        show_warning(message)


def show_warning(message: str) -> None:
    """Print a library warning as one yellow line on stderr (rendered as ``warning: message``)."""
    console.print(f"[yellow]warning:[/yellow] {_escape(message)}", soft_wrap=True, highlight=False)


def reporter(quiet: bool) -> reporting.Reporter:
    """Return the renderer: warnings only when quiet, rich bars on a terminal, plain lines in a log."""
    if quiet:
        return QuietReporter()
    return RichReporter() if console.is_terminal else reporting.PlainReporter()


def run_command(func: Callable[[], T], quiet: bool, debug: bool, threads: int | None = None, workers: int = 1,
                uses_torch: bool = True) -> T:
    """Run a command body: thread policy applied, progress unless quiet, library errors as one red
    line and exit 2. ``uses_torch=False`` (``list``) leaves torch unimported."""
    previous = reporting.set_reporter(reporter(quiet))
    try:
        if uses_torch:
            from alpool.execution import threads as thread_policy

            thread_policy.apply(thread_policy.choose(threads, workers))
        return func()
    except AlreadyFinishedError as exc:  # a rerun with the same settings: nothing to do, success
        if isinstance(exc.root, Path):
            from alpool.rundir.last_run import remember_run

            remember_run(exc.root)
        typer.echo(str(exc))
        return None  # type: ignore[return-value]
    except (AlpoolError, ValidationError) as exc:
        if debug:
            traceback.print_exc()
        message = validation_message(exc, "invalid option") if isinstance(exc, ValidationError) else str(exc)
        console.print(f"[red]error:[/red] {_escape(message)}", soft_wrap=True, highlight=False)
        raise typer.Exit(code=getattr(exc, "exit_code", 2)) from None
    finally:
        reporting.set_reporter(previous)
        reporting.forget_pending()


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def resolve_run_dir(run_dir: Path | None) -> Path:
    """Return ``--run-dir`` or the run directory the previous command used."""
    if run_dir is not None:
        return run_dir
    from alpool.rundir.last_run import last_run

    remembered = last_run()
    if remembered is None:
        raise MissingStepError("no run directory: pass --run-dir DIR or run `alpool pretrain --task TASK DATASET` first")
    return remembered


def default_run_dir(dataset: str) -> Path:
    """Return ``runs/<dataset>`` with the spec made safe as a folder name."""
    name = Path(dataset.split(":", 1)[1]).name if dataset.startswith(("imagefolder:", "images:")) else dataset
    return Path("runs") / re.sub(r"[^A-Za-z0-9._-]+", "-", name)


def params(pairs: list[str] | None, flag: str = "--param", **named: Any) -> dict[str, Any]:
    """Merge ``--param k=v`` pairs (or another ``flag``'s) with named options that were given (not None)."""
    merged: dict[str, Any] = parse_key_values(pairs or [], flag)
    merged.update({k: v for k, v in named.items() if v is not None})
    return merged


def plural(n: int, noun: str) -> str:
    """Return ``"1 class"``, ``"2 classes"``, ``"1 image"``, ``"3 images"``."""
    if n == 1:
        return f"{n} {noun}"
    return f"{n} {noun}{'es' if noun.endswith(('s', 'sh', 'ch', 'x')) else 's'}"


def done(message: str, run_dir: Path, output: Path) -> None:
    """Remember the run directory and print the command's one-line summary with its output folder."""
    from alpool.rundir.last_run import remember_run

    remember_run(run_dir)
    typer.echo(f"{message} -> {output}")


def debug_flag_in_argv() -> bool:
    """Return whether ``--debug`` is on the command line (for errors raised before parsing)."""
    return "--debug" in sys.argv
