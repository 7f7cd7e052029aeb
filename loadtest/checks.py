"""Is an answer right? Pure functions from a response body to an error message or None.

A service under load can answer 200 with a wrong body (a half-written JSON, an empty result
page, a batch entry that failed): a load test that only looks at status codes would report
that as success. Each function returns why the answer is wrong, or None when it is right, so
the locustfile can mark the request failed and these rules can be tested without Locust.
"""

from __future__ import annotations

import html
import re
from typing import Any

DEFAULT_LABELS = ("Adelie", "Chinstrap", "Gentoo", "no_penguin")
REJECT_LABEL = "no_penguin"

# The result page's headline and confidence slots (service/http/templates/result.html).
_HEADLINE = re.compile(r'data-slot="headline"[^>]*>([^<]*)<')
_CONFIDENCE = re.compile(r'data-slot="confidence"[^>]*>\s*Confidence:\s*(\d+)%')
_NO_PENGUIN_HEADLINE = "No penguin recognised"


def check_prediction(body: Any, labels: tuple[str, ...] = DEFAULT_LABELS) -> str | None:
    """A /predict answer, or one /predict/batch entry: a known species and a probability."""
    if not isinstance(body, dict):
        return f"expected a JSON object, got {type(body).__name__}"
    species = body.get("species")
    if species not in labels:
        return f"species {species!r} is not one of {', '.join(labels)}"
    return check_confidence(body.get("confidence"))


def check_confidence(confidence: Any) -> str | None:
    """Why an answer's `confidence` is not a probability, or None when it is one."""
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        return f"confidence {confidence!r} is not a number"
    if not 0.0 <= confidence <= 1.0:
        return f"confidence {confidence} is not between 0 and 1"
    return None


def check_batch(body: Any, expected_count: int,
                labels: tuple[str, ...] = DEFAULT_LABELS) -> str | None:
    """A /predict/batch answer: one valid prediction per file sent, none an error entry."""
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        return "no 'results' list in the batch answer"
    if len(results) != expected_count:
        return f"{len(results)} results for {expected_count} files"
    for position, entry in enumerate(results):
        if isinstance(entry, dict) and "error" in entry:
            return f"file {position} failed: {entry['error']}"
        problem = check_prediction(entry, labels)
        if problem:
            return f"file {position}: {problem}"
    return None


def check_result_page(page: str, labels: tuple[str, ...] = DEFAULT_LABELS) -> str | None:
    """The /classify result page: a headline naming a species (or no penguin), a percentage."""
    headline_match = _HEADLINE.search(page)
    if not headline_match:
        return "no result headline in the page"
    headline = html.unescape(headline_match.group(1)).strip()
    species = [label for label in labels if label != REJECT_LABEL]
    allowed = {f"{name} penguin" for name in species} | {_NO_PENGUIN_HEADLINE}
    if headline not in allowed:
        return f"headline {headline!r} names no known species"
    confidence_match = _CONFIDENCE.search(page)
    if not confidence_match:
        return "no confidence percentage in the page"
    if not 0 <= int(confidence_match.group(1)) <= 100:
        return f"confidence {confidence_match.group(1)}% is not between 0 and 100"
    return None
