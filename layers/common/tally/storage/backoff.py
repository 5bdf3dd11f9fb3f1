"""A short random pause between attempts of a conditional write that lost a race, so that
concurrent callers spread out instead of colliding again at once."""

from __future__ import annotations

import random
import time


def jittered_pause(attempt: int, *, step: float, most_steps: int | None = None) -> None:
    """Up to `step` seconds per attempt made so far (at most `most_steps` of them)."""
    steps = attempt + 1 if most_steps is None else min(attempt + 1, most_steps)
    time.sleep(random.uniform(0, step * steps))  # noqa: S311 - jitter, not a secret
