"""``alpool pretrain``: train a pretext task and save per-image arrays for every train image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from alpool.analysis.step_figures import loss_curve_png
from alpool.core import reporting
from alpool.core.config import PretrainConfig
from alpool.core.errors import ConfigError
from alpool.data import load_dataset
from alpool.learning.training import resolve_device
from alpool.pretext import TASKS, PretrainContext
from alpool.pretext.common import RESUME_FILE
from alpool.rundir.checkpoints import save_checkpoint
from alpool.rundir.context import Upstream, dataset_record, folder_store, split_pool
from alpool.rundir.manifests import StepManifest
from alpool.rundir.run_dir import RunDir, StepWriter, check_run_folder
from alpool.rundir.step_files import MODEL
from alpool.stages.rank import pretrain_steps_read


def run(config: PretrainConfig, run_dir: Path) -> StepManifest:
    """Train ``config.task`` on ``config.dataset`` and write ``pretrain/<name>/``.

    An unfinished step resumes from the task's checkpoint when run with the same task, dataset,
    params and seed (the settings that count, :meth:`StepWriter.keep_settings`, less the validation
    split, which belongs to the run and is checked by :meth:`RunDir.create`); other settings are
    refused unless ``force``.
    """
    task = TASKS.create(config.task, config.params)
    device = resolve_device(config.device)  # every check before the run directory is created
    check_run_folder(run_dir)
    for upstream_task in pretrain_steps_read(task):  # e.g. scan starts from a finished simclr step
        RunDir(run_dir).step("pretrain", upstream_task).manifest()
    store = folder_store(RunDir(run_dir))  # an image folder: the run's index once it exists, else indexed now
    dataset = load_dataset(config.dataset, config.data_dir, config.download, store)
    if task.oracle and not dataset.has_labels:
        raise ConfigError(f"task {config.task!r} trains on ground-truth labels, and {config.dataset} has none; "
                          "use a self-supervised task, --task precomputed or --task torchvision")
    task.check(dataset)
    given = config.val_fraction if "val_fraction" in config.model_fields_set else None  # None: the run's own
    if not dataset.has_labels:
        given = 0.0  # unlabeled: nothing to validate on
    run_ = RunDir.create(run_dir, dataset_record(config.dataset, dataset, config.data_dir), config.seed, given)
    store.keep()  # the folder index lives in the run from its first command on
    pool, val = split_pool(run_, dataset)
    record = config.model_dump(mode="json")
    with run_.writing("pretrain", config.step_name, record, config.force, resume=True) as w:
        w.keep_settings({k: v for k, v in record.items() if k != "val_fraction"}, config.force)  # the run's split
        upstream = Upstream(run_, w)
        ctx = PretrainContext(dataset=dataset, pool=pool, val=val, device=device, seed=config.seed,
                              workdir=w.path, upstream=upstream.pretrain)
        reporting.info(f"pretraining {config.task} on {config.dataset} ({dataset.n_train} images, {device})")
        out = task.run(ctx)
        _write_outputs(w, config.task, out.arrays, out.checkpoint, out.history, dataset.n_train)
        (w.path / RESUME_FILE).unlink(missing_ok=True)  # the per-epoch resume state is not an output
        return w.finish({**out.summary, "task": config.task, "arrays": sorted(out.arrays)},
                        oracle=out.oracle or task.oracle or upstream.oracle)


def _write_outputs(w: StepWriter, task: str, arrays: dict[str, np.ndarray], checkpoint: dict, history: list[dict],
                   n_train: int) -> None:
    """Save arrays (checked to cover every train image), the model and the loss curve."""
    if "embeddings" not in arrays:
        raise RuntimeError("a pretext task must return 'embeddings'")
    for name, array in arrays.items():
        if array.shape[0] != n_train:
            raise RuntimeError(f"array {name!r} has {array.shape[0]} rows, expected {n_train}")
        w.save_array(f"{name}.npy", array)
    save_checkpoint(w.path / MODEL, task, checkpoint)
    w.add_output(MODEL)
    w.write_text("history.csv", pd.DataFrame(history).to_csv(index=False))
    curve = loss_curve_png(history, f"pretrain {w.path.name}")
    if curve is not None:
        w.write_bytes("loss.png", curve)
