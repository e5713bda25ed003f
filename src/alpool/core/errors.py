"""Errors that are part of alpool's interface.

Every error a user can cause is an :class:`AlpoolError`. Its message is one line that names the bad
value, the valid choices where there are any, and the fix. The CLI prints it in red and exits with
code 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations


class AlpoolError(Exception):
    """Base class of every error a user can cause."""

    exit_code = 2


class UnknownNameError(AlpoolError, KeyError):
    """A name that no registry entry has."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ConfigError(AlpoolError, ValueError):
    """An option or preset value that is out of range or inconsistent."""


class MissingStepError(AlpoolError):
    """A step needs the output of an upstream step that has not run (or not finished)."""


class StepExistsError(AlpoolError):
    """A finished step would be overwritten without ``--force``."""


class AlreadyFinishedError(StepExistsError):
    """The step already finished with the same settings: nothing to do (the CLI exits 0)."""

    exit_code = 0

    def __init__(self, message: str, root: object = None) -> None:
        super().__init__(message)
        self.root = root  # the run directory (the CLI remembers it as after a successful command)


class StaleInputError(AlpoolError):
    """A step's recorded inputs (hash or dataset fingerprint) no longer match."""


class SchemaError(AlpoolError):
    """A manifest from a newer alpool, or one that does not validate."""


class CorruptFileError(AlpoolError):
    """A file in the run directory or a dataset file cannot be read or does not match its recorded hash."""


class DatasetFilesMissing(AlpoolError):
    """A dataset's files are not where alpool looks for them."""


class LockedError(AlpoolError):
    """Another process is writing the same step."""


class NotWritableError(AlpoolError):
    """A file of the run directory cannot be created (read-only folder, a file where a folder goes)."""


class WorkerLostError(AlpoolError):
    """A distributed worker died more often than the executor retries a job."""


class RunInterruptedError(AlpoolError):
    """The user interrupted a run (Ctrl-C); what finished is kept and the same command resumes."""

    exit_code = 130


class AlpoolWarning(UserWarning):
    """A :func:`alpool.core.reporting.warning` said while no CLI renders it (alpool used from Python).

    Library code does not raise this itself: it calls ``reporting.warning``, which the CLI prints as
    one yellow line (also with -q) and the step's manifest records.
    """
