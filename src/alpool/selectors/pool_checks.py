"""One rule for a pool too narrow to learn from: few classes covered, or balls covering little.

A pool that holds 4 of 10 classes, or whose coverage balls reach 2 % of the points, limits every
later round whatever the training settings; init-pool, al-run and the report say so (with the
numbers) before they suggest anything about training.
"""

from __future__ import annotations

from typing import Any

MIN_BALL_COVERAGE = 0.05  # share of the points within a coverage selector's balls


def narrow_pool(n_classes_covered: int | None, num_classes: int, budget: int,
                info: dict[str, Any] | None = None) -> str | None:
    """Return why a pool is narrow, to follow its name, or None when it is not.

    ``"covers 4 of 10 classes"``, ``"reaches 2.0% of the points with its balls (delta=0.144)"``, or
    both joined by "and" (the callers say ``pool <name> <why>``).

    Few classes: at most half of ``min(num_classes, budget)`` (a random pool of 10 labels over 10
    balanced classes covers 6.5 on average). Little data: a coverage selector's balls (``info`` with
    ``delta`` and ``coverage``: probcover, dcom) reach less than 5 % of the points.
    """
    parts = []
    if n_classes_covered is not None and num_classes >= 2 and n_classes_covered <= min(num_classes, budget) // 2:
        parts.append(f"covers {n_classes_covered} of {num_classes} classes")
    if info and "delta" in info and float(info.get("coverage", 1.0)) < MIN_BALL_COVERAGE:
        parts.append(f"reaches {float(info['coverage']):.1%} of the points with its balls "
                     f"(delta={float(info['delta']):.3g})")
    return " and ".join(parts) if parts else None


NARROW_ADVICE = ("a pool this narrow limits every later round whatever the training settings; compare "
                 "with a random pool of the same size, or pick with typiclust or maxherding")
