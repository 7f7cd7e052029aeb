"""deploy/smoke_test.py against a canned service on loopback."""

from __future__ import annotations

import email.parser
import email.policy
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from deploy_helpers import ROOT

SCRIPT = ROOT / "deploy" / "smoke_test.py"
PHOTO_BYTES = b"\xff\xd8\xff\xe0 not really a jpeg, the canned service does not decode it"


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "gentoo.jpg"
    path.write_bytes(PHOTO_BYTES)
    return path


def run_script(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=60, env=env)


def test_passes_and_uploads_the_photo_as_multipart_field_file(canned_service, photo) -> None:
    result = run_script(canned_service.url, "--photo", str(photo), "--expect", "Gentoo")
    assert result.returncode == 0, result.stderr
    assert "smoke test passed" in result.stdout and "Gentoo" in result.stdout
    ready, predict = canned_service.requests
    assert (ready["method"], ready["path"]) == ("GET", "/readyz")
    assert (predict["method"], predict["path"]) == ("POST", "/predict")
    # Parse the body the way a server would: one part, field "file", the photo's name and bytes.
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {predict['headers']['Content-Type']}\r\n\r\n".encode() + predict["body"]
    )
    (part,) = message.iter_parts()
    assert part.get_param("name", header="content-disposition") == "file"
    assert part.get_filename() == "gentoo.jpg"
    assert part.get_content_type() == "image/jpeg"
    assert part.get_payload(decode=True) == PHOTO_BYTES


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"prediction": {"species": "Adelie", "confidence": 0.9, "rejected": False}},
         "is a Gentoo but the service answered Adelie"),
        ({"prediction": {"species": "Gentoo", "confidence": 1.5, "rejected": False}},
         "not a probability"),
        ({"prediction": {"label": "Gentoo"}}, "unexpected JSON"),
        ({"prediction": b"<html>oops</html>"}, "unexpected JSON"),
        ({"predict_status": 500}, "POST /predict answered 500"),
        ({"ready_status": 503}, "GET /readyz answered 503"),
    ],
)
def test_fails_with_the_reason(canned_service, photo, change: dict, reason: str) -> None:
    for key, value in change.items():
        setattr(canned_service, key, value)
    result = run_script(canned_service.url, "--photo", str(photo), "--expect", "Gentoo")
    assert result.returncode == 1
    assert "SMOKE TEST FAILED" in result.stderr and reason in result.stderr


def test_any_species_accepts_any_well_formed_answer(canned_service, photo) -> None:
    canned_service.prediction = {"species": "no_penguin", "confidence": 0.6, "rejected": True}
    assert run_script(canned_service.url, "--photo", str(photo), "--any-species").returncode == 0


def test_unreachable_service_fails(photo) -> None:
    # Port 9 (discard) on loopback: nothing listens there, the connection is refused at once.
    result = run_script("http://127.0.0.1:9", "--photo", str(photo), "--timeout", "5")
    assert result.returncode == 1 and "no answer" in result.stderr


def test_sends_the_identity_token_when_given(canned_service, photo) -> None:
    env = {"PATH": "/usr/bin:/bin", "SMOKE_ID_TOKEN": "secret-token"}
    assert run_script(canned_service.url, "--photo", str(photo), env=env).returncode == 0
    for request in canned_service.requests:
        assert request["headers"]["Authorization"] == "Bearer secret-token"


def test_sample_photos_expect_their_folders_species(smoke_test: ModuleType,
                                                    tmp_path: Path) -> None:
    samples = tmp_path / "samples"
    for species in ("Gentoo", "Adelie"):
        (samples / species).mkdir(parents=True)
        (samples / species / "1.jpg").write_bytes(b"x")
    first = smoke_test.default_photo(samples)
    assert first == samples / "Adelie" / "1.jpg"
    assert smoke_test.sample_species(first, samples) == "Adelie"
    assert smoke_test.sample_species(tmp_path / "mine.jpg", samples) is None
    with pytest.raises(smoke_test.SmokeTestFailed, match="pass --photo"):
        smoke_test.default_photo(tmp_path / "empty")
