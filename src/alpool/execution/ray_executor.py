"""Trials as Ray tasks: one task per (pool, query, trial), on a local Ray or a cluster.

- One task per trial (not per episode): the episodes of a trial depend on each other, so a trial
  is the smallest independent unit, and the run directory already records its progress per
  episode. Hundreds of one-episode trials (the cold bench) are hundreds of tasks.
- Resources: each task asks for ``--cpus-per-trial`` CPUs (default 1) and runs torch with that many
  threads (:func:`set_task_threads`), so Ray never runs more threads on a node than it has CPUs;
  and ``--gpus-per-trial`` GPUs (fractions share a GPU; default 1 when the cluster has GPUs and
  ``--device`` is not ``cpu``, else 0, and then the task sees no GPU at all).
- The :class:`~alpool.execution.executor.Shared` value (the opened run with its dataset tensors, the config,
  the pools, the framework) is put once into the object store; each worker process fetches it once
  and keeps it for its later tasks.
- A lost worker (killed, node gone) is retried up to :data:`RETRIES` times; the retried task
  resumes the trial from its last finished episode (an episode is finished when its
  ``metrics.json``, written last, exists), so the results equal an uninterrupted run.
- Results stream back as tasks finish. Closing the iterator (Ctrl-C) cancels every task not
  finished; finished episodes stay on disk and the same command resumes them.
- Storage: the run directory must be on a filesystem every node mounts at the same path; a worker
  that cannot see it fails the run with one line naming the path.

Without an address, a local Ray is started (and left running for the rest of the process, so
``alpool all`` starts it once), or the cluster in ``RAY_ADDRESS`` is joined (``auto``). A Ray
already initialised by the caller (a notebook, a test) is used as it is.

Token authentication (Ray 2.5x and later): ``ray start --head`` turns it on when a token exists
(``~/.ray/auth_token``), but ``ray.init`` with an explicit address (``--ray-address``,
``RAY_ADDRESS``) does not, and then retries for about 20 s and fails. Before joining a cluster,
alpool therefore turns token mode on in this process whenever a token is at hand and
``RAY_AUTH_MODE`` is unset (a cluster without authentication accepts such a client too); without a
token, a failed join names the token as the likely cause.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Generator, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from alpool.core import reporting
from alpool.core.errors import AlpoolError, ConfigError, WorkerLostError
from alpool.execution.executor import EXECUTORS, ExecutorRequest, Reported, Shared, call_reporting, unwrap

J = TypeVar("J")
R = TypeVar("R")
RETRIES = 3  # re-runs of a task whose worker died; each resumes from the last finished episode
INSTALL_HINT = "pip install -c constraints.txt 'alpool[ray]'"
AUTH_MODE = "RAY_AUTH_MODE"  # Ray's switch of token authentication ("token" or "disabled")

_RECEIVED: dict[str, Any] = {}  # in a Ray worker: shared values already fetched, by object id


def import_ray() -> Any:
    """Return the ``ray`` module or raise one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--executor ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def set_task_threads(threads: int) -> None:
    """Run torch (intra-op) with the CPUs Ray reserved for this task (the thread policy's Ray case)."""
    from alpool.execution import threads as thread_policy

    thread_policy.apply(thread_policy.ThreadChoice(threads, "ray: --cpus-per-trial"))


def run_job(fn: Callable[..., R], boxed: list[Any], job: J, threads: int, gpus: float) -> Reported[R]:
    """Run one job in a Ray worker: hide GPUs it did not ask for, set threads, fetch the shared value once.

    ``boxed`` holds the object-store reference of the shared value inside a list, so that Ray does
    not resolve (copy) it into every task: each worker process fetches it once and keeps it.
    """
    if gpus == 0:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before anything starts CUDA in this worker
    set_task_threads(threads)
    shared = None
    if boxed:
        key = boxed[0].hex()
        if key not in _RECEIVED:
            import ray

            _RECEIVED[key] = Shared(ray.get(boxed[0]))
        shared = _RECEIVED[key]
    return call_reporting(fn, shared, job)  # its warnings travel back with the result


def auth_token_source(environ: Mapping[str, str], home: Path) -> str | None:
    """Return where Ray would find an authentication token (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or
    ``~/.ray/auth_token``), or None when there is none."""
    if environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    listed = environ.get("RAY_AUTH_TOKEN_PATH")
    if listed and Path(listed).is_file():
        return listed
    default = home / ".ray" / "auth_token"
    return str(default) if default.is_file() else None


def use_token_auth() -> str | None:
    """Turn on Ray's token authentication in this process when a token is at hand and ``RAY_AUTH_MODE`` is unset.

    Returns:
        Where the token is, or None (no token, or ``RAY_AUTH_MODE`` set by the user: then it is left alone).
    """
    source = auth_token_source(os.environ, Path.home())
    if source is None or os.environ.get(AUTH_MODE) is not None:
        return None
    os.environ[AUTH_MODE] = "token"
    try:  # Ray reads its settings once at import: refresh them, as ray.init does for a local cluster
        from ray._raylet import Config  # type: ignore[attr-defined]

        Config.initialize("")
    except (ImportError, AttributeError):  # a Ray without token authentication: nothing to turn on
        pass
    return source


def join_failure(address: str, exc: Exception, token: str | None) -> str:
    """Return the one line that says why joining ``address`` failed and what to do."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if token is None:
        hint = ("if the cluster uses token authentication (Ray turns it on when the head has ~/.ray/auth_token), "
                "copy the head's ~/.ray/auth_token to this machine or set RAY_AUTH_TOKEN; else start the cluster "
                "with `ray start --head`")
    else:
        hint = (f"the token in {token} may not be the cluster's (compare with the head's ~/.ray/auth_token), "
                "or the cluster is not running: start it with `ray start --head`")
    return f"cannot join the Ray cluster at {address!r} ({first}); {hint}, or fix --ray-address / RAY_ADDRESS"


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Refuse a ``host:port`` that does not answer (Ray itself would retry connecting for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto", "local": Ray finds or starts the cluster itself
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConfigError(f"cannot join the Ray cluster at {address!r} ({exc.strerror or exc}); start it with "
                          "`ray start --head` on the head node, or fix --ray-address / RAY_ADDRESS") from None


@EXECUTORS.register("ray")
class RayExecutor:
    """Run jobs as Ray tasks (see the module docstring for the guarantees)."""

    def __init__(self, request: ExecutorRequest) -> None:
        if request.workers > 1:
            raise ConfigError(f"--workers {request.workers} sizes the local process pool, not --executor ray; "
                              "on Ray, the cluster's CPUs and --cpus-per-trial decide how many trials run at once")
        self.ray = import_ray()
        options = request.execution
        if options.gpus_per_trial and request.device == "cpu":
            raise ConfigError(f"--gpus-per-trial {options.gpus_per_trial} with --device cpu; "
                              "use --device auto or cuda, or drop --gpus-per-trial")
        self.address = options.ray_address
        self.cpus = options.cpus_per_trial
        self.gpus_wanted = options.gpus_per_trial
        self.device = request.device
        self.gpus: float | None = None
        if request.connect:
            self.connect()

    def map(self, fn: Callable[..., R], jobs: Iterable[J], shared: Shared[Any] | None = None
            ) -> Generator[R, None, None]:
        """Submit every job, yield results as they finish; on close, cancel the unfinished tasks."""
        ray = self.ray
        gpus = self.connect()
        boxed = [ray.put(shared.value)] if shared is not None else []  # put once, fetched once per worker
        remote = ray.remote(run_job).options(num_cpus=self.cpus, num_gpus=gpus, max_retries=RETRIES,
                                             retry_exceptions=False)
        pending = {remote.remote(fn, boxed, job, self.cpus, gpus): job for job in jobs}
        try:
            while pending:
                finished, _ = ray.wait(list(pending), num_returns=1)
                for ref in finished:
                    job = pending.pop(ref)
                    yield self._result(ref, job)
        finally:
            for ref in pending:
                ray.cancel(ref)

    def connect(self) -> float:
        """Join or start Ray (once), check the GPU request against the cluster; return the GPUs per task."""
        if self.gpus is None:
            self._join()
            self.gpus = self._gpus_per_task()
        return self.gpus

    def _join(self) -> None:
        """Join the cluster (``--ray-address``, else ``auto`` with ``RAY_ADDRESS``), else start a local Ray."""
        ray = self.ray
        if ray.is_initialized():
            return
        address = self.address or ("auto" if os.environ.get("RAY_ADDRESS") else "local")
        check_reachable(self.address or os.environ.get("RAY_ADDRESS") or "local")
        token = use_token_auth() if address != "local" else None
        if token is not None:
            reporting.info(f"joining Ray with token authentication (RAY_AUTH_MODE=token, token from {token})")
        elif address != "local":
            token = auth_token_source(os.environ, Path.home())
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
        except ConnectionError as exc:
            raise ConfigError(join_failure(self.address or os.environ.get("RAY_ADDRESS") or address, exc,
                                           token)) from None

    def _gpus_per_task(self) -> float:
        """Return the GPUs of each task: as asked, else 1 on a GPU cluster unless --device cpu."""
        available = float(self.ray.cluster_resources().get("GPU", 0))
        if self.gpus_wanted is not None:
            wanted = float(self.gpus_wanted)
            if wanted == 0 and self.device == "cuda":
                raise ConfigError("--gpus-per-trial 0 with --device cuda; give the trials GPUs or use --device cpu")
            if wanted > available:
                raise ConfigError(f"--gpus-per-trial {wanted:g} but the Ray cluster has {available:g} GPUs; "
                                  "lower --gpus-per-trial or add GPU nodes")
            return wanted
        if self.device == "cuda" and available == 0:
            raise ConfigError("--device cuda but the Ray cluster has no GPU; "
                              "use --device auto or cpu, or add GPU nodes")
        return 1.0 if available >= 1 and self.device != "cpu" else 0.0

    def _result(self, ref: Any, job: Any) -> Any:
        """Return a task's result; a library error raised in the task is raised here as itself."""
        ray = self.ray
        try:
            return unwrap(ray.get(ref))
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, AlpoolError):
                raise cause from None
            raise
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as exc:
            raise WorkerLostError(f"job {job} lost its worker {RETRIES + 1} times ({type(exc).__name__}); "
                                  "see the Ray logs (/tmp/ray/session_latest/logs) and rerun to resume") from None
