"""The iNaturalist API v1, asked politely.

iNaturalist's "API Recommended Practices" ask for about 60 requests a minute and at most
10,000 a day, and media downloads well under 5 GB an hour; `requests-ratelimiter` keeps every
request of this process (API and photo server, each host counted on its own) under those
rates. A 429 or 503 is answered by waiting exactly as long as its Retry-After says; other
transient failures back off exponentially, a bounded number of times, and then the run stops
(a later run resumes). The User-Agent names the project.

Why not the `pyinaturalist` client: its latest release (0.21.1) needs requests-ratelimiter
< 0.9 and so pyrate-limiter 2, while the dev extra's schemathesis needs pyrate-limiter 4; the
two cannot be installed together. The two endpoints, the id-based paging and the photo URL
sizes it would have provided are a few lines each here.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import requests
from requests.utils import default_user_agent
from requests_ratelimiter import LimiterSession

from training.inat.observations import Observation

API_BASE = "https://api.inaturalist.org/v1"
USER_AGENT = "penguin-classifier-fetch-photos/1.0 (training/fetch_photos.py)"
# Statuses worth asking again: the server is overloaded, restarting, or asks us to slow down.
RETRY_STATUSES = (429, 500, 502, 503, 504)
TRANSIENT_ERRORS = (requests.ConnectionError, requests.Timeout,
                    requests.exceptions.ChunkedEncodingError)
MAX_PAGE_SIZE = 200  # the API's maximum per_page

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Politeness:
    """How fast and how stubbornly to ask. The defaults are iNaturalist's documented limits."""

    per_minute: float = 60.0
    per_day: float = 10_000.0
    attempts: int = 4  # tries per request, the first included
    backoff_seconds: float = 2.0  # waits 2, 4, 8 s between tries of a transient failure
    max_retry_after: float = 900.0  # a longer Retry-After stops the run instead of waiting
    timeout_seconds: float = 30.0


class FetchInterrupted(Exception):
    """The network or the server stopped answering (or asked for a long pause): stop, and let a
    later run resume from ATTRIBUTION.csv."""


class PhotoUnavailable(Exception):
    """A photo answered with a permanent error (404, 403, ...): skip its observation."""


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: it is either a number of seconds or an HTTP date."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def query_value(value: object) -> str:
    """The API's spelling of a parameter: lists comma-separated, booleans in lower case."""
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


class InatClient:
    """Taxa, observations and photo bytes, through one rate-limited session."""

    def __init__(
        self,
        *,
        api_base: str = API_BASE,
        politeness: Politeness = Politeness(),
        user_agent: str = USER_AGENT,
        wait: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.politeness = politeness
        self.wait = wait  # the tests record the waits instead of sleeping through them
        self.session = LimiterSession(
            per_second=max(1.0, politeness.per_minute / 60),
            per_minute=politeness.per_minute,
            per_day=politeness.per_day,
            # Over a minute's wait means the daily budget is spent: that stops the run.
            max_delay=90,
            # A 429 is answered by its Retry-After below, not by the limiter guessing.
            limit_statuses=(),
        )
        self.session.headers["User-Agent"] = f"{user_agent} {default_user_agent()}"

    def get(self, url: str, *, accept: str = "application/json", **params) -> requests.Response:
        """GET with bounded retries: a transient failure backs off exponentially, a 429 or 503
        waits exactly as long as its Retry-After says."""
        query = {key: query_value(value) for key, value in params.items() if value is not None}
        attempts = self.politeness.attempts
        for attempt in range(1, attempts + 1):
            try:
                response = self.session.get(url, params=query, headers={"Accept": accept},
                                            timeout=self.politeness.timeout_seconds)
            except TRANSIENT_ERRORS as error:
                failure, delay = f"{type(error).__name__}: {error}", self._backoff(attempt)
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                failure = f"HTTP {response.status_code}"
                asked = self._server_delay(response, url)
                delay = self._backoff(attempt) if asked is None else asked
            if attempt < attempts:
                log.warning("%s from %s; trying again in %.1f s", failure, url, delay)
                self.wait(delay)
        raise FetchInterrupted(f"{url}: {failure} after {attempts} attempts")

    def get_json(self, url: str, **params) -> dict:
        """An API answer as JSON; an error status other than a transient one stops the run
        with the server's message."""
        response = self.get(url, **params)
        if not response.ok:
            raise FetchInterrupted(f"{response.url}: HTTP {response.status_code}: "
                                   f"{response.text[:300]}")
        return response.json()

    def taxon_id(self, scientific_name: str) -> int:
        """The id of the active taxon with exactly this scientific name (a search for
        'Pygoscelis papua' also finds hybrids and subspecies)."""
        found = self.get_json(f"{self.api_base}/taxa", q=scientific_name, is_active=True,
                              per_page=30)["results"]
        for taxon in found:
            if taxon.get("name", "").lower() == scientific_name.lower():
                return int(taxon["id"])
        offered = ", ".join(repr(taxon.get("name")) for taxon in found[:10]) or "nothing"
        raise LookupError(f"iNaturalist has no taxon named {scientific_name!r} "
                          f"(the search offered {offered})")

    def observations(self, *, page_size: int = MAX_PAGE_SIZE, **filters) -> Iterator[Observation]:
        """Observations matching `filters` (API parameters), newest first, a page at a time as
        the caller reads them. Pages go by `id_below`, not `page`: the API refuses deep page
        numbers on large result sets and asks for id ranges instead."""
        id_below = None
        while True:
            page = self.get_json(f"{self.api_base}/observations", **filters, per_page=page_size,
                                 order_by="id", order="desc", id_below=id_below)
            results = page["results"]
            yield from (Observation.from_json(result) for result in results)
            if len(results) < page_size:
                return
            id_below = results[-1]["id"]

    def photo_bytes(self, url: str) -> bytes:
        """The bytes of one photo file."""
        response = self.get(url, accept="image/*")
        if not response.ok:
            raise PhotoUnavailable(f"HTTP {response.status_code}")
        return response.content

    def _backoff(self, attempt: int) -> float:
        return self.politeness.backoff_seconds * 2 ** (attempt - 1)

    def _server_delay(self, response: requests.Response, url: str) -> float | None:
        delay = retry_after_seconds(response.headers.get("Retry-After"))
        if delay is not None and delay > self.politeness.max_retry_after:
            raise FetchInterrupted(
                f"{url} asks to wait {delay:.0f} s before trying again (more than "
                f"--max-retry-after {self.politeness.max_retry_after:.0f} s)"
            )
        return delay
