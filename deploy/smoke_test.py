"""Smoke test a running penguin classifier: is it ready, and does it name a sample photo's species?

    python deploy/smoke_test.py https://green---penguin-classifier-xyz.a.run.app
    python deploy/smoke_test.py http://127.0.0.1:8080 --photo my.jpg --expect Gentoo

By default the photo is the first of data/samples/<Species>/*.jpg and the expected answer is its
folder's name. Exits 0 when every check passes, 1 (with the reason on stderr) otherwise.
Standard library only, so it runs wherever gcloud does, without the project's venv.
For a service that requires authentication, put an identity token in SMOKE_ID_TOKEN, e.g.
SMOKE_ID_TOKEN="$(gcloud auth print-identity-token)".
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"


class SmokeTestFailed(Exception):
    """The service answered, but not what a healthy release answers."""


def default_photo(samples: Path = SAMPLES) -> Path:
    photos = sorted(samples.glob("*/*.jpg"))
    if not photos:
        raise SmokeTestFailed(f"no sample photo in {samples}/<Species>/*.jpg; pass --photo")
    return photos[0]


def sample_species(photo: Path, samples: Path = SAMPLES) -> str | None:
    """The species a sample photo shows (its folder's name); None for any other photo."""
    resolved = photo.resolve()
    return resolved.parent.name if resolved.parent.parent == samples.resolve() else None


def multipart_body(field: str, path: Path) -> tuple[bytes, str]:
    """A multipart/form-data body holding one file, and its Content-Type header."""
    boundary = uuid.uuid4().hex
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{path.name}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    body = head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def request(url: str, *, timeout: float, data: bytes | None = None,
            content_type: str | None = None) -> tuple[int, bytes]:
    """Status and body of one request; an HTTP error status is returned, not raised."""
    headers = {"User-Agent": "penguin-smoke-test"}
    if content_type:
        headers["Content-Type"] = content_type
    token = os.environ.get("SMOKE_ID_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise SmokeTestFailed(f"{url}: no answer ({error})") from error


def smoke(base_url: str, photo: Path, expect: str | None, *, timeout: float = 60.0) -> dict:
    """Check /readyz, then classify `photo`; return the prediction. Raises SmokeTestFailed."""
    base_url = base_url.rstrip("/")
    # A generous timeout: the first request to a revision with no instance waits for a cold
    # start (Cloud Run holds it until the startup probe on /readyz passes).
    status, body = request(f"{base_url}/readyz", timeout=timeout)
    if status != 200:
        raise SmokeTestFailed(f"GET /readyz answered {status}: {body[:300]!r}")

    data, content_type = multipart_body("file", photo)
    status, body = request(f"{base_url}/predict", timeout=timeout, data=data,
                           content_type=content_type)
    if status != 200:
        raise SmokeTestFailed(f"POST /predict answered {status}: {body[:300]!r}")
    try:
        prediction = json.loads(body)
        species, confidence = prediction["species"], prediction["confidence"]
    except (ValueError, KeyError, TypeError) as error:
        raise SmokeTestFailed(f"POST /predict answered unexpected JSON: {body[:300]!r}") from error
    if not isinstance(confidence, int | float) or not 0.0 <= confidence <= 1.0:
        raise SmokeTestFailed(f"confidence {confidence!r} is not a probability")
    if expect is not None and species != expect:
        raise SmokeTestFailed(
            f"{photo} is a {expect} but the service answered {species} ({confidence:.2f})"
        )
    return prediction


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="base URL of the service, e.g. a revision's tagged URL")
    parser.add_argument("--photo", type=Path, help="photo to classify (default: first sample)")
    answer = parser.add_mutually_exclusive_group()
    answer.add_argument("--expect", help="species the answer must be "
                        "(default: a sample's folder name; for other photos, not checked)")
    answer.add_argument("--any-species", action="store_true",
                        help="accept any answer, only check that there is a well-formed one")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    args = parser.parse_args(argv)

    started = time.monotonic()
    try:
        photo = args.photo or default_photo()
        expect = None if args.any_species else (args.expect or sample_species(photo))
        prediction = smoke(args.url, photo, expect, timeout=args.timeout)
    except SmokeTestFailed as failure:
        print(f"SMOKE TEST FAILED: {failure}", file=sys.stderr)
        return 1
    print(f"smoke test passed: {args.url} named {photo.name} {prediction['species']} "
          f"(confidence {prediction['confidence']:.2f}) in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
