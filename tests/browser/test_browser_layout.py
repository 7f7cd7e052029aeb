"""Phone-sized screens, and the screenshots of docs/screenshots/ that the README shows."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from browser_helpers import (
    DESKTOP,
    PHONE,
    SAMPLES,
    SCREENSHOTS,
    SMALL_LIMIT,
    SMALL_PHONE,
    expect,
    has_horizontal_scroll,
    predict,
    upload,
)

# What a phone camera names a photo: one long word the page must wrap, not scroll for.
LONG_NAME = "IMG_20240101_123456789_HDR_PORTRAIT_EDITED_FINAL_penguin_colony_at_dawn_copy.jpg"
UNREADABLE = re.compile("That file could not be read|That file type is not supported")
PHONE_OPTIONS = {"is_mobile": True, "has_touch": True, "device_scale_factor": 2}


@pytest.mark.parametrize("viewport", [PHONE, SMALL_PHONE], ids=["390x844", "320x640"])
def test_phone_screens_never_scroll_sideways(new_page, small_server, viewport, colour_photo):
    page = new_page(viewport=viewport, **PHONE_OPTIONS)
    page.goto(small_server)
    assert not has_horizontal_scroll(page), "the upload form"

    page.get_by_label("Choose a photo").set_input_files(
        upload(LONG_NAME, colour_photo("blue", size=(2000, 600))))
    expect(page.locator("#result h2")).to_have_text("Gentoo penguin")
    assert not has_horizontal_scroll(page), "a result with a long file name and a wide photo"

    big = colour_photo("red") + b"\0" * SMALL_LIMIT
    page.get_by_label("Choose a photo").set_input_files(upload(LONG_NAME, big))
    expect(page.locator("#result .error-box")).to_contain_text(LONG_NAME)
    assert not has_horizontal_scroll(page), "an error quoting a long file name"

    page.get_by_label("Choose a photo").set_input_files(
        upload(LONG_NAME.replace(".jpg", ".txt"), b"no photo", "text/plain"))
    expect(page.locator("#result .error-box h2")).to_have_text(UNREADABLE)
    assert not has_horizontal_scroll(page), "an error from the server"

    no_script = new_page(viewport=viewport, java_script_enabled=False, **PHONE_OPTIONS)
    no_script.goto(small_server)
    no_script.get_by_label("Choose a photo").set_input_files(
        upload(LONG_NAME, colour_photo("green")))
    with no_script.expect_navigation():
        no_script.get_by_role("button", name="Classify photo").click()
    expect(no_script.locator("#result h2")).to_have_text("Chinstrap penguin")
    assert not has_horizontal_scroll(no_script), "the result page of the plain form"


def screenshot_photo(server: str, colour_photo: Callable[..., bytes]) -> tuple[str, bytes]:
    """A rendered sample photo the tiny model names correctly, so the screenshots are not
    misleading; a plain blue picture when there is none."""
    for species in ("Gentoo", "Adelie", "Chinstrap"):
        for path in sorted((SAMPLES / species).glob("*.jpg")):
            data = path.read_bytes()
            if predict(server, data)["species"] == species:
                return f"{species.lower()}.jpg", data
    return "gentoo.jpg", colour_photo("blue")


def save_screenshot(page, name: str) -> Path:
    """Write docs/screenshots/<name>.png, leaving the file alone when nothing changed."""
    png = page.screenshot(full_page=True, animations="disabled")
    path = SCREENSHOTS / f"{name}.png"
    if not path.exists() or path.read_bytes() != png:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
    return path


@pytest.mark.parametrize(("device", "options"), [
    ("desktop", {"viewport": DESKTOP}),
    ("phone", {"viewport": PHONE, **PHONE_OPTIONS}),
], ids=["desktop", "phone"])
def test_screenshots_before_and_after_a_prediction(new_page, server, colour_photo, device, options):
    page = new_page(reduced_motion="reduce", color_scheme="light", **options)
    page.goto(server)
    expect(page.locator(".drag-hint")).to_be_visible()
    before = save_screenshot(page, f"{device}-before")

    name, data = screenshot_photo(server, colour_photo)
    page.get_by_label("Choose a photo").set_input_files(upload(name, data))
    expect(page.locator("#result .result")).to_be_visible()
    page.wait_for_function(
        "() => { const img = document.querySelector('#result img');"
        " return img && img.complete && img.naturalWidth > 0; }")
    assert not has_horizontal_scroll(page)
    after = save_screenshot(page, f"{device}-after")
    for path in (before, after):
        assert path.stat().st_size > 10_000, path
