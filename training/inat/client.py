"""The iNaturalist API v1, asked politely.

pyinaturalist's `ClientSession` keeps the request rate under the limits iNaturalist documents
(its "API Recommended Practices": about 60 requests a minute and 10,000 a day; media downloads
well under 5 GB an hour), in a rate-limit database shared by every process on the machine, and
sends a User-Agent that names this project. Its `IDRangePaginator` pages by observation id, the
way the API asks large result sets to be read. What it does not do for us is honour a 429's
Retry-After, so the retries are ours: one bounded policy for the API and the photo server alike
(the session's own urllib3 retries are switched off, so the two never multiply).

pyinaturalist 0.21 has no setting for the API's address (its endpoint functions format the
module constant `API_V1` into each URL), so this module builds the two URLs it needs from
`api_base` and hands them to pyinaturalist's session and paginator: the tests point it at a
local stand-in, and nothing here can reach the real API from a test.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import requests
from pyinaturalist.constants import API_V1
from pyinaturalist.models import Observation
from pyinaturalist.paginator import IDRangePaginator
from pyinaturalist.session import ClientSession
from requests.adapters import HTTPAdapter
from requests_ratelimiter import BucketFullException

API_BASE = API_V1
USER_AGENT = "penguin-classifier-fetch-photos/1.0 (training/fetch_photos.py)"
# Statuses worth asking again: the server is overloaded, restarting, or asks us to slow down.
RETRY_STATUSES = (429, 500, 502, 503, 504)
TRANSIENT_ERRORS = (requests.ConnectionError, requests.Timeout,
                    requests.exceptions.ChunkedEncodingError)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Politeness:
    """How fast and how stubbornly to ask. The defaults are iNaturalist's documented limits."""

    per_second: float = 1.0
    per_minute: float = 60.0
    per_day: float = 10_000.0
    attempts: int = 4  # tries per request, the first included
    backoff_seconds: float = 2.0  # waits 2, 4, 8 s between tries of a transient failure
    max_retry_after: float = 900.0  # a longer Retry-After stops the run instead of waiting
    timeout_seconds: int = 30


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


class InatClient:
    """Taxa, observations and photo bytes, through one rate-limited session."""

    def __init__(
        self,
        *,
        api_base: str = API_BASE,
        politeness: Politeness = Politeness(),
        user_agent: str = USER_AGENT,
        ratelimit_db: Path | None = None,
        wait: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.politeness = politeness
        self.wait = wait  # the tests record the waits instead of sleeping through them
        self.session = _polite_session(politeness, user_agent, ratelimit_db)

    def get(self, url: str, *, accept: str = "application/json", **params) -> requests.Response:
        """GET with bounded retries: a transient failure backs off exponentially, a 429 or 503
        waits exactly as long as its Retry-After says."""
        attempts = self.politeness.attempts
        for attempt in range(1, attempts + 1):
            try:
                response = self.session.request(
                    "GET", url, headers={"Accept": accept}, raise_for_status=False, **params
                )
            except BucketFullException as error:
                raise FetchInterrupted(
                    f"the request budget (per day: {self.politeness.per_day:.0f}) is used up"
                ) from error
            except TRANSIENT_ERRORS as error:
                failure, delay = f"{type(error).__name__}: {error}", self._backoff(attempt)
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                failure = f"HTTP {response.status_code}"
                delay = self._server_delay(response, url) or self._backoff(attempt)
            if attempt < attempts:
                log.warning("%s from %s; trying again in %.1f s", failure, url, delay)
                self.wait(delay)
        raise FetchInterrupted(f"{url}: {failure} after {attempts} attempts")

    def get_json(self, url: str, **params) -> dict:
        """An API answer as JSON; an error status other than a transient one is a bug (ours or
        the API's), so it stops the run with the server's message."""
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

    def observations(
        self,
        *,
        taxon_ids: list[int],
        without_ids: list[int],
        licences: list[str],
        bounding_box: dict[str, float],
        page_size: int,
    ) -> Iterator[Observation]:
        """Research-grade observations with a photo under one of `licences`, newest first,
        fetched a page at a time as the caller reads them."""
        paginator = IDRangePaginator(
            self.get_json, Observation, f"{self.api_base}/observations",
            per_page=page_size, order="desc",
            taxon_id=taxon_ids, without_taxon_id=without_ids or None,
            quality_grade="research", photos=True, photo_license=licences, **bounding_box,
        )
        return iter(paginator)

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


def _polite_session(politeness: Politeness, user_agent: str,
                    ratelimit_db: Path | None) -> ClientSession:
    options = {"ratelimit_path": str(ratelimit_db)} if ratelimit_db else {}
    session = ClientSession(
        per_second=politeness.per_second,
        per_minute=politeness.per_minute,
        per_day=politeness.per_day,
        timeout=politeness.timeout_seconds,
        user_agent=user_agent,
        # The response cache would keep every photo a second time; a resumed run re-reads only
        # the few pages it needs, so it is switched off (and kept in memory, not on disk).
        use_memory=True,
        # A 429 is answered by its Retry-After in InatClient.get, not by the limiter guessing.
        limit_statuses=(),
        **options,
    )
    session.settings.disabled = True
    for scheme in ("http://", "https://"):
        session.mount(scheme, HTTPAdapter(max_retries=0))
    return session
