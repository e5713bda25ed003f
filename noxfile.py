"""Developer sessions: tests, lint, typecheck, benchmarks.

Sessions run in the current environment (``venv_backend="none"``): a fresh virtualenv would
re-download torch (5.5 GB) every time. Install once with the README's command first.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """Run the fast test suite (what CI runs)."""
    session.run("python", "-m", "pytest", "-q", *session.posargs)


@nox.session(venv_backend="none")
def slow(session: nox.Session) -> None:
    """Run the slow tests (real datasets, longer training)."""
    session.run("python", "-m", "pytest", "-q", "-m", "slow", *session.posargs)


@nox.session(venv_backend="none")
def lint(session: nox.Session) -> None:
    """Run ruff."""
    session.run("ruff", "check", "src", "tests", "benchmarks", "noxfile.py")


@nox.session(venv_backend="none")
def typecheck(session: nox.Session) -> None:
    """Run mypy on the library."""
    session.run("mypy")


@nox.session(venv_backend="none")
def bench(session: nox.Session) -> None:
    """Print the speed and memory benchmarks (selectors, pretext/scoring, training, executors, start-up, threads,
    photo folders).

    ``nox -s bench`` runs all of them with their defaults; ``nox -s bench -- pretext --n 50000``
    runs one (selectors, pretext, training, executors, startup, threads or images) with its own flags.
    """
    scripts = ("selectors", "pretext", "training", "executors", "startup", "threads", "images")
    if session.posargs and session.posargs[0] in scripts:
        session.run("python", f"benchmarks/bench_{session.posargs[0]}.py", *session.posargs[1:])
        return
    if session.posargs:
        session.error(f"name the benchmark first ({', '.join(scripts)}), then its flags: "
                      "nox -s bench -- pretext --help")
    for script in scripts:
        session.run("python", f"benchmarks/bench_{script}.py")
