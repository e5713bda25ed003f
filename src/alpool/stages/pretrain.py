"""``alpool pretrain``: train a pretext task and save per-image arrays for every train image."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from alpool import reporting
from alpool.atomic_files import save_state
from alpool.config import PretrainConfig
from alpool.data import load_dataset
from alpool.errors import ConfigError
from alpool.pretext import TASKS, PretrainContext
from alpool.rundir import RunDir, StepManifest, StepWriter, check_run_folder
from alpool.stages.context import Upstream, dataset_record, split_pool
from alpool.stages.rank import pretrain_steps_read
from alpool.stages.step_figures import loss_curve_png
from alpool.training import resolve_device

RESUME_KEYS = ("task", "dataset", "params", "seed")


def run(config: PretrainConfig, run_dir: Path) -> StepManifest:
    """Train ``config.task`` on ``config.dataset`` and write ``pretrain/<name>/``.

    An unfinished step with the same task, dataset, params and seed resumes from the task's
    checkpoint; with a different config it starts over.
    """
    task = TASKS.create(config.task, config.params)
    device = resolve_device(config.device)  # every check before the run directory is created
    check_run_folder(run_dir)
    for upstream_task in pretrain_steps_read(task):  # e.g. scan starts from a finished simclr step
        RunDir(run_dir).step("pretrain", upstream_task).manifest()
    dataset = load_dataset(config.dataset, config.data_dir, config.download)
    if task.oracle and not dataset.has_labels:
        raise ConfigError(f"task {config.task!r} trains on ground-truth labels, and {config.dataset} has none; "
                          "use a self-supervised task, --task precomputed or --task torchvision")
    task.check(dataset)
    given = config.val_fraction if "val_fraction" in config.model_fields_set else None  # None: the run's own
    if not dataset.has_labels:
        given = 0.0  # unlabeled: nothing to validate on
    run_ = RunDir.create(run_dir, dataset_record(config.dataset, dataset, config.data_dir), config.seed, given)
    pool, val = split_pool(run_, dataset)
    with run_.writing("pretrain", config.step_name, config.model_dump(mode="json"), config.force, resume=True) as w:
        _restart_if_config_changed(w, config)
        upstream = Upstream(run_, w)
        ctx = PretrainContext(dataset=dataset, pool=pool, val=val, device=device, seed=config.seed,
                              workdir=w.path, upstream=upstream.pretrain)
        reporting.info(f"pretraining {config.task} on {config.dataset} ({dataset.n_train} images, {device})")
        out = task.run(ctx)
        _write_outputs(w, out.arrays, out.checkpoint, out.history, dataset.n_train)
        (w.path / "checkpoint.pt").unlink(missing_ok=True)
        return w.finish({**out.summary, "task": config.task, "arrays": sorted(out.arrays)},
                        oracle=out.oracle or task.oracle or upstream.oracle)


def _restart_if_config_changed(w: StepWriter, config: PretrainConfig) -> None:
    """Keep an unfinished step's checkpoint only when it was made with the same settings."""
    path = w.path / "config.json"
    wanted = {k: config.model_dump(mode="json")[k] for k in RESUME_KEYS}
    if path.exists() and json.loads(path.read_text()) != wanted:
        for child in w.path.iterdir():
            if child.is_file():
                child.unlink()
        reporting.info("the unfinished step had other settings: starting over")
    w.write_json("config.json", wanted)


def _write_outputs(w: StepWriter, arrays: dict[str, np.ndarray], checkpoint: dict, history: list[dict],
                   n_train: int) -> None:
    """Save arrays (checked to cover every train image), the model and the loss curve."""
    if "embeddings" not in arrays:
        raise RuntimeError("a pretext task must return 'embeddings'")
    for name, array in arrays.items():
        if array.shape[0] != n_train:
            raise RuntimeError(f"array {name!r} has {array.shape[0]} rows, expected {n_train}")
        w.save_array(f"{name}.npy", array)
    save_state(w.path / "model.pt", checkpoint)
    w.add_output("model.pt")
    w.write_text("history.csv", pd.DataFrame(history).to_csv(index=False))
    curve = loss_curve_png(history, f"pretrain {w.path.name}")
    if curve is not None:
        w.write_bytes("loss.png", curve)
