"""``alpool al-run``."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from alpool.cli.common import (
    DataDirOpt,
    DebugOpt,
    DeviceOpt,
    ForceOpt,
    ParamOpt,
    QuietOpt,
    RunDirOpt,
    SeedOpt,
    done,
    params,
    resolve_run_dir,
    run_command,
)
from alpool.config import ALRunConfig, TrainConfig
from alpool.errors import ConfigError
from alpool.frameworks import FRAMEWORKS
from alpool.models import MODELS
from alpool.selectors import SELECTORS


def al_run(
    query: Annotated[list[str] | None, typer.Option("--query", help=f"AL query (repeatable): {SELECTORS.choices_help()}.")] = None,
    pool: Annotated[list[str] | None, typer.Option("--pool", help="Initial pool (repeatable; default: every finished pool).")] = None,
    episodes: Annotated[int, typer.Option("--episodes", "-e", help="Query rounds after the initial training (0: train once).")] = 5,
    step_budget: Annotated[int, typer.Option("--step-budget", "-b", help="Images labeled per round.")] = 10,
    trials: Annotated[int, typer.Option("--trials", help="Independent seeds per pool and query.")] = 3,
    framework: Annotated[str, typer.Option("--framework", help=f"How labels are used: {FRAMEWORKS.choices_help()}.")] = "supervised",
    framework_param: Annotated[list[str] | None, typer.Option("--framework-param", help="Framework option KEY=VALUE.")] = None,
    arch: Annotated[str, typer.Option("--arch", help=f"Classifier: {MODELS.choices_help()}.")] = "small-cnn",
    epochs: Annotated[int, typer.Option("--epochs", help="Training epochs per episode.")] = 30,
    train_json: Annotated[str | None, typer.Option("--train", help='More training settings as JSON, e.g. \'{"lr": 0.05}\'.')] = None,
    param: ParamOpt = None,
    warm_start: Annotated[bool, typer.Option("--warm-start", help="Keep the previous episode's weights.")] = False,
    workers: Annotated[int, typer.Option("--workers", help="Run trials in this many processes.")] = 1,
    name: Annotated[str | None, typer.Option("--name", help="Experiment folder (default: the queries).")] = None,
    run_dir: RunDirOpt = None, data_dir: DataDirOpt = None, device: DeviceOpt = "auto", seed: SeedOpt = 0,
    force: ForceOpt = False, quiet: QuietOpt = False, debug: DebugOpt = False,
) -> None:
    """Run active-learning episodes from the initial pools, for every query and trial.

    Killed runs resume: run the same command again.

    Example: alpool al-run --query coreset --episodes 5 --step-budget 20 --trials 3
    """
    from alpool.stages import al_run as stage

    def body() -> None:
        target = resolve_run_dir(run_dir)
        queries = query or ["random"]
        extra = params(param)
        train = TrainConfig(**{"arch": arch, "epochs": epochs, **_json(train_json)})
        config = ALRunConfig(pools=pool or [], queries=queries, query_params={q: extra for q in queries} if extra else {},
                             episodes=episodes, step_budget=step_budget, trials=trials, framework=framework,
                             framework_params=params(framework_param), train=train, warm_start=warm_start,
                             name=name, seed=seed, workers=workers, device=device, force=force)  # type: ignore[arg-type]
        manifest = stage.run(config, target, data_dir)
        final = manifest.summary["final_accuracy"]
        best = max(final.items(), key=lambda kv: kv[1])
        done(f"{manifest.summary['jobs']} trials; best final accuracy {best[1]:.3f} ({best[0]})", target,
             target / "al" / manifest.name)

    run_command(body, quiet, debug)


def _json(text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--train {text!r} is not JSON ({exc.msg}); write e.g. --train '{{\"lr\": 0.05}}'") from None
    if not isinstance(value, dict):
        raise ConfigError(f"--train {text!r} must be a JSON object")
    return value
