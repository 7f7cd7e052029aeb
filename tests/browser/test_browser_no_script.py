"""The upload page without JavaScript: a plain form posted to /classify, answered with pages."""

from __future__ import annotations

import pytest
from browser_helpers import (
    LABELS,
    SMALL_LIMIT,
    SMALL_LIMIT_TEXT,
    expect,
    predict,
    upload,
)


@pytest.fixture
def no_script_page(new_page):
    return new_page(java_script_enabled=False)


def post_form(page, file: dict) -> int:
    """Choose the file and press the button: a real form submission and page load."""
    page.get_by_label("Choose a photo").set_input_files(file)
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Classify photo").click()
    assert page.url.endswith("/classify")
    return navigation.value.status


def test_without_javascript_the_form_post_renders_a_result_page(no_script_page, server,
                                                                 colour_photo):
    page = no_script_page
    page.goto(server)
    expect(page.locator(".drag-hint")).to_be_hidden()  # only the script can take a drop
    data = colour_photo("green")
    assert post_form(page, upload("green.jpg", data)) == 200
    answer = predict(server, data)

    expect(page).to_have_title("Chinstrap penguin – Penguin classifier")
    result = page.locator("#result .result")
    expect(result.locator("h2")).to_have_text("Chinstrap penguin")
    expect(result.locator(".confidence")).to_have_text(f"Confidence: {answer['confidence']:.0%}")
    expect(result.locator(".bar-label")).to_have_text(LABELS)
    expect(result.locator(".bar.is-answer .bar-label")).to_have_text("Chinstrap")
    widths = result.locator(".bar-fill").evaluate_all(
        "fills => fills.map((fill) => parseFloat(fill.style.width))")
    assert widths == pytest.approx([p * 100 for p in answer["probabilities"].values()], abs=0.06)
    expect(result.locator("figcaption")).to_have_text("green.jpg")
    assert result.locator("img").evaluate(
        "img => img.complete && img.naturalWidth > 0 && img.src.startsWith('data:image/jpeg')")
    # The form is on the result page too, ready for the next photo.
    assert post_form(page, upload("red.jpg", colour_photo("red"))) == 200
    expect(page.locator("#result h2")).to_have_text("Adelie penguin")


def test_without_javascript_a_non_image_renders_an_error_page(no_script_page, server):
    page = no_script_page
    page.goto(server)
    status = post_form(page, upload("notes.txt", b"not a photo\n" * 50, "text/plain"))
    assert status in (400, 415)
    box = page.locator("#result .error-box")
    expect(box.locator("h2")).to_have_text(
        "That file could not be read" if status == 400 else "That file type is not supported")
    expect(box.locator("p")).not_to_be_empty()
    expect(page.get_by_role("button", name="Classify photo")).to_be_visible()


def test_without_javascript_an_oversize_file_renders_an_error_page(no_script_page, small_server,
                                                                   colour_photo):
    page = no_script_page
    page.goto(small_server)
    big = colour_photo("red") + b"\0" * (3 * SMALL_LIMIT)
    assert post_form(page, upload("big.jpg", big)) == 413
    box = page.locator("#result .error-box")
    expect(box.locator("h2")).to_have_text("That file is too large")
    expect(box.locator("p")).to_contain_text(SMALL_LIMIT_TEXT)
    assert '"error"' not in page.locator("body").inner_text()
