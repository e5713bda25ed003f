"""Developer sessions: tests, lint, typecheck, benchmarks.

Sessions run in the current environment (``venv_backend="none"``): a fresh virtualenv would
re-download torch (5.5 GB) every time. Install once with the README's command first.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

LABEL_STUDIO = "label-studio==1.23.2"  # the version the integration test was written against

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
def integration(session: nox.Session) -> None:
    """Run the labelling loop against a real Label Studio server (tests/test_label_studio.py).

    Label Studio pins Django and many other packages, so it lives in its own virtualenv,
    ``.nox/label-studio`` (made once; ``--reinstall`` or deleting the folder makes it again); alpool's
    tests drive it over HTTP on 127.0.0.1. Takes ~3 minutes after the install, most of it Label
    Studio's first start (database migrations).
    """
    venv = Path(".nox") / "label-studio"
    command = venv / "bin" / "label-studio"
    if not command.is_file():
        session.run(sys.executable, "-m", "venv", str(venv))
        session.run(str(venv / "bin" / "pip"), "install", "-q", LABEL_STUDIO)
    env = {"ALPOOL_LABEL_STUDIO": str(command.resolve()), "ALPOOL_REQUIRE_LABEL_STUDIO": "1",
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    session.run("python", "-m", "pytest", "-q", "-s", "-m", "slow", "tests/test_label_studio.py", *session.posargs,
                env=env)


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

    ``nox -s bench`` runs the quick ones with their defaults; ``nox -s bench -- pretext --n 50000``
    runs one (selectors, pretext, training, executors, startup, threads, images or lowbudget) with its
    own flags. Two are only run by name: ``images`` (a folder of photo-sized JPEGs through the loop,
    before and after: ``nox -s bench -- images --before ../before/src``) and ``lowbudget`` (the
    low-budget study on all of Fashion-MNIST: 12 minutes on an idle 2-core machine, far longer on a loaded one).
    """
    scripts = ("selectors", "pretext", "training", "executors", "startup", "threads")
    by_name_only = ("images", "lowbudget")
    if session.posargs and session.posargs[0] in (*scripts, *by_name_only):
        session.run("python", f"benchmarks/bench_{session.posargs[0]}.py", *session.posargs[1:])
        return
    if session.posargs:
        session.error(f"name the benchmark first ({', '.join((*scripts, *by_name_only))}), then its flags: "
                      "nox -s bench -- pretext --help")
    for script in scripts:
        session.run("python", f"benchmarks/bench_{script}.py")
