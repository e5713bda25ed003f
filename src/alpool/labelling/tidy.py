"""Remove what a killed loop command left behind, so that its rerun leaves the run as an uninterrupted one would.

Unfinished step folders are cleared by the run directory when the step is redone; what remains are
``run.json``'s temporary files in the run root (a kill while the steps index was rewritten) and the
process record of a step killed after its manifest was written.
"""

from __future__ import annotations

from alpool.core.atomic_files import remove_stale_temps
from alpool.rundir.run_dir import RunDir
from alpool.rundir.step_dir import StepDir
from alpool.rundir.step_process import PROCESS_FILE


def tidy(run: RunDir, *steps: StepDir) -> None:
    """Remove stale temporary files of the run root and the process record of finished ``steps``."""
    remove_stale_temps(run.root)
    for step in steps:
        if step.is_finished():
            (step.path / PROCESS_FILE).unlink(missing_ok=True)
