"""Readable labels shared by al-run's results table and analyze: how a pool was made."""

from __future__ import annotations

from typing import Any


def pool_label(summary: dict[str, Any]) -> str:
    """Return how a pool was made from its manifest summary, e.g. ``ranked(vae-loss)``."""
    strategy = str(summary.get("strategy", "?"))
    params = summary.get("params") or {}
    detail = params.get("score") or params.get("inner")
    return f"{strategy}({detail})" if detail else strategy
