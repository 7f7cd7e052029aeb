"""How long a user waits between requests, from the WAIT environment variable.

The original study's users waited 1 to 5 s between requests, like people choosing their next
photo; that is the default, so our figures compare with its figures. `WAIT=none` removes the
wait, so a handful of users saturate the service and show its ceiling. (Written without
locust.between/constant: importing locust would monkey-patch whoever imports this module.)
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

WAIT_ENV = "WAIT"
STUDY_WAIT = "1-5"
NO_WAIT = ("none", "0", "no")

WaitTime = Callable[[Any], float]


def parse_wait(raw: str) -> tuple[float, float]:
    """'1-5' -> (1, 5); '2' -> (2, 2); 'none' -> (0, 0). Seconds."""
    text = raw.strip().lower()
    if text in NO_WAIT:
        return 0.0, 0.0
    low, _, high = text.partition("-")
    try:
        bounds = (float(low), float(high or low))
    except ValueError:
        raise ValueError(f"{WAIT_ENV}={raw!r}: expected 'none', seconds ('2') or a range "
                         "('1-5')") from None
    if bounds[0] < 0 or bounds[1] < bounds[0]:
        raise ValueError(f"{WAIT_ENV}={raw!r}: expected 0 <= low <= high")
    return bounds


def _resolve(raw: str | None, no_wait_default: bool) -> tuple[float, float]:
    if not raw:
        raw = "none" if no_wait_default else STUDY_WAIT
    return parse_wait(raw)


def wait_time_for(raw: str | None, *, no_wait_default: bool = False) -> WaitTime:
    """A Locust wait_time (called with the user); unset means the study's 1-5 s, or no wait."""
    low, high = _resolve(raw, no_wait_default)
    return lambda _user: random.uniform(low, high)


def describe_wait(raw: str | None, *, no_wait_default: bool = False) -> str:
    low, high = _resolve(raw, no_wait_default)
    if high == 0:
        return "no wait"
    return f"{low:g} s" if low == high else f"{low:g}-{high:g} s"
