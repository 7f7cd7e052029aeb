"""What ships: no external decoders in the image, every dependency pinned.

Pillow hands EPS and PDF to Ghostscript, and plugins exist for HEIC, SVG, PDF and video; the
allowlist in service/model/preprocessing.py keeps their decoders from running, and this keeps them
out of the image in the first place. (tests/deploy checks the rest of the Dockerfile.)
"""

from __future__ import annotations

import re
import tomllib

from service_process import REPO_ROOT

# Python packages that decode images or documents through external libraries or programs.
EXTERNAL_DECODERS = {"pillow-heif", "pillow-avif-plugin", "wand", "pyvips", "cairosvg",
                     "opencv-python", "opencv-python-headless", "pdf2image", "pymupdf",
                     "ghostscript", "imageio", "rawpy", "pillow-jxl-plugin"}
OS_PACKAGE_MANAGERS = re.compile(r"\b(apt-get|apt|apk|dnf|yum|microdnf)\b")


def test_the_image_installs_no_os_packages_so_no_ghostscript_or_other_decoder():
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    runs = re.findall(r"^RUN\s+(.*?)(?<!\\)$", dockerfile, flags=re.M | re.S)
    assert runs, "no RUN instruction found: has the Dockerfile moved?"
    for run in runs:
        assert not OS_PACKAGE_MANAGERS.search(run), run
    assert "ghostscript" not in dockerfile.lower()


def test_no_external_decoder_package_is_a_runtime_dependency():
    lock = (REPO_ROOT / "requirements" / "runtime.txt").read_text().splitlines()
    names = {line.split("==")[0].lower() for line in lock if line and not line.startswith("#")}
    assert "pillow" in names
    assert not names & EXTERNAL_DECODERS


def test_every_dependency_and_extra_is_pinned_exactly():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"],
                    *(r for extra in project["optional-dependencies"].values() for r in extra)]
    loose = [r for r in requirements if not re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][^,;]*", r)]
    assert not loose, loose
