"""Constants and helpers of the browser tests (the fixtures are in conftest.py), and Playwright's
`expect`, imported here so that a venv without Playwright reports why rather than failing to
collect the test modules."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import httpx

try:
    from playwright.sync_api import expect
except ImportError:  # conftest's fixtures then fail every test, saying why (or skip on request)
    expect = None

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
SAMPLES = REPO_ROOT / "data" / "samples"

# The server behind the oversize tests: small enough that a ~300 kB file is too large.
SMALL_LIMIT = 100_000
SMALL_LIMIT_TEXT = "100,000 bytes"  # how the page words it (service.http.limits.describe_limit)

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SMALL_PHONE = {"width": 320, "height": 640}

# The tiny model (tests/conftest.py) answers by the colour of a photo's top half
# (the colour_photo fixture).
SPECIES_OF = {"red": "Adelie", "green": "Chinstrap", "blue": "Gentoo"}
LABELS = ["Adelie", "Chinstrap", "Gentoo", "No penguin"]

# Every heading the page may show for a failed upload (service/http/web_render.py, static/app.js).
ERROR_HEADINGS = {
    "That file could not be read", "That file is too large", "That file type is not supported",
    "No photo was received", "No photo was chosen", "That did not work",
}


def upload(name: str, data: bytes, mime_type: str = "image/jpeg") -> dict[str, Any]:
    """A file for Playwright's set_input_files and FileChooser.set_files."""
    return {"name": name, "mimeType": mime_type, "buffer": data}


def predict(server: str, data: bytes) -> dict:
    """The JSON API's answer for a photo, to compare the page with."""
    response = httpx.post(f"{server}/predict", files={"file": ("photo.jpg", data, "image/jpeg")},
                          timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def drop_file(page: Any, target: str, name: str, data: bytes, mime_type: str) -> dict[str, bool]:
    """Drag a file over `target` and drop it, with real DragEvents holding a DataTransfer.

    Returns what the page did: whether the drop zone showed its dragging state, and whether
    it accepted dragover and drop (called preventDefault, so the browser does not open the file).
    """
    return page.evaluate(
        """([selector, name, type, encoded]) => {
            const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type }));
            const target = document.querySelector(selector);
            const zone = document.getElementById("drop-zone");
            const fire = (kind) => !target.dispatchEvent(new DragEvent(kind, {
                bubbles: true, cancelable: true, composed: true, dataTransfer: transfer }));
            fire("dragenter");
            const accepted_dragover = fire("dragover");
            const dragging = zone.classList.contains("is-dragging");
            const accepted_drop = fire("drop");
            return { dragging, accepted_dragover, accepted_drop,
                     dragging_after_drop: zone.classList.contains("is-dragging") };
        }""",
        [target, name, mime_type, base64.b64encode(data).decode()],
    )


def has_horizontal_scroll(page: Any) -> bool:
    return page.evaluate(
        "() => document.scrollingElement.scrollWidth > document.scrollingElement.clientWidth")


# ---- Colour contrast (WCAG 2.x) -----------------------------------------------------------------

_RGB = re.compile(r"rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)(?:\s*[,/]\s*([\d.]+%?))?\s*\)")


def parse_colour(css: str) -> tuple[float, float, float, float]:
    """'rgb(1, 2, 3)' / 'rgba(1, 2, 3, 0.5)' -> (r, g, b, alpha)."""
    match = _RGB.fullmatch(css.strip())
    assert match, f"unexpected computed colour {css!r}"
    red, green, blue, alpha = match.groups()
    if alpha is None:
        opacity = 1.0
    elif alpha.endswith("%"):
        opacity = float(alpha[:-1]) / 100
    else:
        opacity = float(alpha)
    return float(red), float(green), float(blue), opacity


def relative_luminance(colour: tuple[float, float, float, float]) -> float:
    def channel(value: float) -> float:
        value /= 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue, _ = colour
    return 0.2126 * channel(red) + 0.7152 * channel(green) + 0.0722 * channel(blue)


def apply_filter(css_colour: str, css_filter: str) -> str:
    """The colour as drawn under a `brightness(n)` filter (others are not used by the page)."""
    if css_filter in ("", "none"):
        return css_colour
    match = re.fullmatch(r"brightness\(([\d.]+)\)", css_filter.strip())
    assert match, f"unexpected CSS filter {css_filter!r}"
    factor = float(match.group(1))
    red, green, blue, alpha = parse_colour(css_colour)
    red, green, blue = (min(255.0, channel * factor) for channel in (red, green, blue))
    return f"rgba({red}, {green}, {blue}, {alpha})"


def contrast_ratio(foreground: str, background: str) -> float:
    fg, bg = parse_colour(foreground), parse_colour(background)
    assert fg[3] == 1 and bg[3] == 1, f"translucent colours: {foreground} on {background}"
    lighter, darker = sorted((relative_luminance(fg), relative_luminance(bg)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


# For each selector: the colour of the element's text, its background (its own, else the first
# opaque one of its ancestors), what is behind it, and its CSS filter (a hover effect).
COLOURS_OF = """(selectors) => selectors.map((selector) => {
    const element = document.querySelector(selector);
    if (!element) return { selector, missing: true };
    const opaque = (colour) => colour !== "transparent" && !/^rgba\\(.*,\\s*0\\)$/.test(colour);
    let node = element.parentElement, behind = "rgb(255, 255, 255)";
    while (node) {
        const colour = getComputedStyle(node).backgroundColor;
        if (opaque(colour)) { behind = colour; break; }
        node = node.parentElement;
    }
    const style = getComputedStyle(element);
    const own = opaque(style.backgroundColor) ? style.backgroundColor : behind;
    return { selector, color: style.color, background: own, behind, filter: style.filter };
})"""
