"""The options that choose where al-run's trials run (shared by ``al-run`` and ``all``)."""

from __future__ import annotations

from typing import Annotated

import typer

from alpool.core.config import Execution

ExecutorOpt = Annotated[str, typer.Option(
    "--executor", help="Where trials run: local (this process), process (--workers local processes) or ray "
    "(a Ray cluster; pip install 'alpool\\[ray]'). Default auto: local for one worker, else process.")]
RayAddressOpt = Annotated[str | None, typer.Option(
    "--ray-address", help="Ray cluster to join, e.g. auto or 10.0.0.1:6379 (default: RAY_ADDRESS, else a local Ray).")]
GpusPerTrialOpt = Annotated[float | None, typer.Option(
    "--gpus-per-trial", help="Ray: GPUs per trial, fractions share a GPU (default: 1 on a GPU cluster unless --device cpu).")]
CpusPerTrialOpt = Annotated[int, typer.Option(
    "--cpus-per-trial", help="Ray: CPUs per trial, also its torch threads.")]


def execution(executor: str, ray_address: str | None, gpus_per_trial: float | None, cpus_per_trial: int) -> Execution:
    """Return the execution options of the command line."""
    return Execution(executor=executor, ray_address=ray_address, gpus_per_trial=gpus_per_trial,
                     cpus_per_trial=cpus_per_trial)
