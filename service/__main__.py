"""`python -m service`: serve the classifier with uvicorn, configured from the environment.

SIGTERM (what Cloud Run and Kubernetes send before stopping a container) triggers uvicorn's
graceful shutdown: it stops accepting connections, lets in-flight requests finish for up to
GRACEFUL_SHUTDOWN_SECONDS (within Cloud Run's 10 s notice), runs the lifespan shutdown and
exits with status 0.

Uvicorn, once shut down, re-raises the SIGTERM it caught to the handler that was installed
before it; with Python's default handler the process would then die "killed by SIGTERM"
(status 143) after a perfectly clean shutdown. Our handler turns that into a normal exit 0;
it equally makes a SIGTERM during startup, before uvicorn listens, a clean exit.
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
from types import FrameType

import uvicorn
from pydantic import ValidationError

from service.engine.allocator import (
    MMAP_THRESHOLD,
    TRIM_THRESHOLD,
    keep_freed_memory_for_reuse,
    operator_settings,
)
from service.http.app import create_app
from service.http.logging_setup import configure_logging
from service.model.networks import import_backend
from service.settings import Settings

GRACEFUL_SHUTDOWN_SECONDS = 8
# Uvicorn closes an idle keep-alive connection after 5 s by default. A client that waits about
# that long between requests (the load tests wait 1 to 5 s) can send its next request just as
# the server closes: it gets "remote end closed connection without response" (measured: 1 in
# ~1,500 requests in the spike and tenx scenarios). Proxies in front (Cloud Run's front end,
# load balancers) also keep connections to the backend open for long; the server must not be
# the side that closes first.
KEEP_ALIVE_SECONDS = 620

log = logging.getLogger("service")


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


def _report_allocator(fixed: bool) -> None:
    """Say which malloc thresholds the process runs with: they decide how much freed memory it
    keeps, which an operator reading its memory graph needs to know (loadtest/MEMORY.md)."""
    if fixed:
        log.info("malloc thresholds fixed", extra={"mmap_threshold_bytes": MMAP_THRESHOLD,
                                                   "trim_threshold_bytes": TRIM_THRESHOLD})
    else:
        log.info("malloc thresholds left to the environment or the C library",
                 extra={"malloc_environment": operator_settings()})


def main() -> None:
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        settings = Settings()
    except ValidationError as error:
        sys.exit(f"invalid configuration in environment variables:\n{error}")
    configure_logging(settings.log_level)
    # Before the model's memory is allocated: engine/allocator.py.
    _report_allocator(keep_freed_memory_for_reuse())
    app = create_app(settings)
    import_backend(settings.model_backend)
    # Every object imported so far (torch's, FastAPI's: about 220,000) lives as long as the
    # process: out of the collector's sight, a full collection no longer walks them all on the
    # event loop (about 100 ms of CPU each, measured: loadtest/BENCHMARK.md).
    gc.freeze()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # keep our JSON logging for uvicorn's own messages
        log_level=settings.log_level.lower(),
        access_log=False,  # each request already has its own structured line
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


if __name__ == "__main__":
    main()
