"""The "I have measurements" form in a real browser: unfolds, posts without JavaScript, shows
the answer like a photo's, fits a phone, and is screenshotted for the README."""

from __future__ import annotations

import httpx
import pytest
from browser_helpers import DESKTOP, PHONE, SCREENSHOTS, expect, has_horizontal_scroll

# A real Gentoo of the Palmer Penguins data, as typed into the form.
GENTOO = {"Bill length (mm)": "45.1", "Bill depth (mm)": "14.5", "Flipper length (mm)": "210",
          "Body mass (g, optional)": "4500", "Year (optional)": "2008"}
SELECTS = {"Sex (optional)": "male", "Island (optional)": "Biscoe"}
API_BODY = {"bill_length_mm": 45.1, "bill_depth_mm": 14.5, "flipper_length_mm": 210,
            "body_mass_g": 4500, "year": 2008, "sex": "male", "island": "Biscoe"}
SPECIES = ["Adelie", "Chinstrap", "Gentoo"]


def fill_and_post(page, fields: dict[str, str], selects: dict[str, str]) -> int:
    if page.locator("#measurements").get_attribute("open") is None:
        page.get_by_text("I have measurements").click()  # <details> unfolds without any script
    for label, value in fields.items():
        page.get_by_label(label).fill(value)
    for label, value in selects.items():
        page.get_by_label(label).select_option(value)
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Classify measurements").click()
    assert page.url.endswith("/classify-measurements")
    return navigation.value.status


@pytest.mark.parametrize("script", [False, True], ids=["no-script", "script"])
def test_measurements_are_answered_on_a_result_page_like_a_photo(new_page, server, script):
    page = new_page(java_script_enabled=script)
    page.goto(server)
    expect(page.get_by_label("Bill length (mm)")).to_be_hidden()  # folded at first
    assert fill_and_post(page, GENTOO, SELECTS) == 200
    answer = httpx.post(f"{server}/predict/measurements", json=API_BODY, timeout=30).json()

    expect(page).to_have_title("Gentoo penguin – Penguin classifier")
    result = page.locator("#result .result")
    expect(result.locator("h2")).to_have_text("Gentoo penguin")
    expect(result.locator(".confidence")).to_have_text(f"Confidence: {answer['confidence']:.0%}")
    expect(result.locator(".bar-label")).to_have_text(SPECIES)
    expect(result.locator(".bar.is-answer .bar-label")).to_have_text("Gentoo")
    expect(result.locator("dd")).to_have_count(7)
    # Unfolded with empty fields, ready for the next bird.
    expect(page.get_by_label("Bill length (mm)")).to_have_value("")
    expect(page.get_by_label("Bill length (mm)")).to_be_visible()


def test_missing_optional_fields_and_bad_values_are_explained(new_page, server):
    page = new_page(java_script_enabled=False)
    page.goto(server)
    bill_and_flipper = {k: v for k, v in GENTOO.items() if "optional" not in k}
    assert fill_and_post(page, bill_and_flipper, {}) == 200
    expect(page.locator("#result .message")).to_have_text(
        "Answered without body mass, year, sex, island.")

    out_of_range = {**bill_and_flipper, "Flipper length (mm)": "400"}
    assert fill_and_post(page, out_of_range, {}) == 200
    expect(page.locator("#result .warnings li")).to_contain_text("outside the range seen")

    assert fill_and_post(page, {**bill_and_flipper, "Bill depth (mm)": "-3"}, {}) == 422
    box = page.locator("#result .error-box")
    expect(box.locator("h2")).to_have_text("Those measurements cannot be used")
    expect(box.locator("p")).to_contain_text("bill_depth_mm: must be greater than 0")


def test_the_measurements_form_and_result_fit_a_phone(new_page, server):
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2,
                    java_script_enabled=False)
    page.goto(server)
    page.get_by_text("I have measurements").click()
    assert not has_horizontal_scroll(page), "the unfolded form"
    assert fill_and_post(page, GENTOO, SELECTS) == 200
    assert not has_horizontal_scroll(page), "the result"


def test_screenshot_of_a_measurements_answer(new_page, server):
    page = new_page(viewport=DESKTOP, reduced_motion="reduce", color_scheme="light")
    page.goto(server)
    assert fill_and_post(page, GENTOO, SELECTS) == 200
    png = page.screenshot(full_page=True, animations="disabled")
    path = SCREENSHOTS / "desktop-measurements.png"
    if not path.exists() or path.read_bytes() != png:
        path.write_bytes(png)
    assert path.stat().st_size > 10_000
