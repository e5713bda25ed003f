"""A query's state kept from one round to the next (DCoM's radii), as one ``.npz`` file.

Both places that keep it use this codec and the name :data:`~alpool.rundir.step_files.SELECTOR_STATE`:
an AL episode folder (``al/<experiment>/trials/.../episode-NNN/``, see
:mod:`alpool.rundir.trial_dirs`) and a labelling round's pool (``pools/<next round>/``, see
:mod:`alpool.stages.next_round`).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np


def encode_state(state: dict[str, np.ndarray]) -> bytes:
    """Return the ``.npz`` bytes of a selector state (arrays by name)."""
    buffer = io.BytesIO()
    np.savez(buffer, **state)  # type: ignore[arg-type]
    return buffer.getvalue()


def read_state(path: Path) -> dict[str, np.ndarray] | None:
    """Return the selector state stored at ``path``; None when there is none."""
    if not path.exists():
        return None
    with np.load(path) as data:
        return {key: data[key] for key in data.files}
