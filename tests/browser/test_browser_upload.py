"""The upload page with JavaScript: file input, drag and drop, and errors shown in the page."""

from __future__ import annotations

import math
import re

from browser_helpers import (
    ERROR_HEADINGS,
    LABELS,
    SMALL_LIMIT,
    SMALL_LIMIT_TEXT,
    SPECIES_OF,
    drop_file,
    expect,
    predict,
    upload,
)


def read_result(page) -> dict:
    """What the page shows of a result: headline, confidence, and each bar."""
    result = page.locator("#result .result")
    expect(result).to_be_visible()
    bars = [{
        "label": bar.locator(".bar-label").inner_text(),
        "value": bar.locator(".bar-value").inner_text(),
        "width": bar.locator(".bar-fill").evaluate("e => e.style.width"),
        "answer": "is-answer" in (bar.get_attribute("class") or ""),
        "drawn": bar.locator(".bar-fill").evaluate("e => e.getBoundingClientRect().width"),
        "track": bar.locator(".bar-track").evaluate("e => e.getBoundingClientRect().width"),
    } for bar in result.locator(".bar").all()]
    return {
        "headline": result.locator("h2").inner_text(),
        "confidence": result.locator(".confidence").inner_text(),
        "caption": result.locator("figcaption").inner_text(),
        "preview_loaded": result.locator("img").evaluate(
            "img => img.complete && img.naturalWidth > 0"),
        "bars": bars,
    }


def check_result(shown: dict, answer: dict, filename: str) -> None:
    """The page shows exactly what /predict answered for the same photo."""
    assert shown["headline"] == f"{answer['species']} penguin"
    assert shown["confidence"] == f"Confidence: {round(answer['confidence'] * 100)}%"
    assert shown["caption"] == filename and shown["preview_loaded"]
    assert [bar["label"] for bar in shown["bars"]] == LABELS
    for bar, probability in zip(shown["bars"], answer["probabilities"].values(), strict=True):
        assert bar["value"] == f"{round(probability * 100)}%"
        assert abs(float(bar["width"].rstrip("%")) - probability * 100) < 0.06, bar
    (answer_bar,) = [bar for bar in shown["bars"] if bar["answer"]]
    assert answer_bar["label"] == answer["species"]
    # The answer's bar is drawn (nearly) across its track; the others are not.
    assert answer_bar["drawn"] >= 0.5 * answer_bar["track"] > 0
    assert max(bar["drawn"] for bar in shown["bars"]) == answer_bar["drawn"]


def test_choosing_a_photo_and_submitting_shows_species_confidence_and_bars(page, server,
                                                                          colour_photo):
    page.goto(server)
    expect(page).to_have_title("Penguin classifier")
    data = colour_photo("red")
    with page.expect_response("**/predict"):
        page.get_by_label("Choose a photo").set_input_files(upload("red-penguin.jpg", data))
    with page.expect_response("**/predict") as submitted:
        page.get_by_role("button", name="Classify photo").click()
    assert submitted.value.status == 200
    expect(page.locator("#result h2")).to_have_text("Adelie penguin")
    check_result(read_result(page), predict(server, data), "red-penguin.jpg")
    timing = submitted.value.json()["timing_ms"]  # the split Server-Timing gives, as words
    expect(page.locator("#result .timing")).to_have_text(
        f"Answered in {timing['total']:.1f} ms: decoding {timing['decode']:.1f} ms, "
        f"queue {timing['queue']:.1f} ms, inference {timing['inference']:.1f} ms.")
    assert page.url.rstrip("/") == server, "the page did not reload or navigate"

    # Another photo replaces the result rather than adding a second one.
    page.get_by_label("Choose a photo").set_input_files(
        upload("green-penguin.jpg", colour_photo("green")))
    expect(page.locator("#result h2")).to_have_text("Chinstrap penguin")
    expect(page.locator("#result .result")).to_have_count(1)
    expect(page.locator("#result .bar.is-answer .bar-label")).to_have_text("Chinstrap")


def test_dropping_a_photo_on_the_drop_zone_classifies_it(page, server, colour_photo):
    page.goto(server)
    expect(page.locator(".drag-hint")).to_be_visible()
    uploads = []
    page.on("request", lambda request: uploads.append(request.url))
    data = colour_photo("blue")
    with page.expect_response("**/predict") as response:
        events = drop_file(page, "#drop-zone", "dropped.jpg", data, "image/jpeg")
    assert response.value.status == 200
    assert [url for url in uploads if url.endswith("/predict")] == [f"{server}/predict"]
    assert events == {"dragging": True, "accepted_dragover": True, "accepted_drop": True,
                      "dragging_after_drop": False}
    expect(page.locator("#result h2")).to_have_text(f"{SPECIES_OF['blue']} penguin")
    check_result(read_result(page), predict(server, data), "dropped.jpg")
    # The dropped file is now the form's file, so the button classifies it again.
    assert page.locator("#photo").evaluate("input => input.files[0].name") == "dropped.jpg"
    with page.expect_response("**/predict"):
        page.get_by_role("button", name="Classify photo").click()
    expect(page.locator("#result h2")).to_have_text("Gentoo penguin")


def test_dropping_on_a_part_of_the_drop_zone_works_too(page, server, colour_photo):
    page.goto(server)
    with page.expect_response("**/predict"):
        drop_file(page, "#photo-help", "red.jpg", colour_photo("red"), "image/jpeg")
    expect(page.locator("#result h2")).to_have_text("Adelie penguin")


def test_a_photo_dropped_beside_the_drop_zone_is_classified_not_opened(page, server, colour_photo):
    """Unhandled, such a drop makes the browser leave the page to show the photo."""
    page.goto(server)
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    events = drop_file(page, "h1", "green.jpg", colour_photo("green"), "image/jpeg")
    assert events["accepted_dragover"] and events["accepted_drop"]
    assert not events["dragging"], "only a drag over the box highlights it"
    expect(page.locator("#result h2")).to_have_text("Chinstrap penguin")
    assert [url for url in requests if url.endswith("/predict")] == [f"{server}/predict"]


def expect_error(page, heading: str, *message_parts: str) -> str:
    """The error box is shown in the page, inside the result region, with a clear message."""
    box = page.locator("#result .error-box")
    expect(box).to_be_visible()
    expect(box.locator("h2")).to_have_text(heading)
    message = box.locator("p").inner_text().replace("\xa0", " ")  # "10\xa0MiB" does not wrap
    for part in message_parts:
        assert part in message, message
    assert heading in ERROR_HEADINGS
    assert page.get_by_role("button", name="Classify photo").is_visible(), "the form is still there"
    body = page.locator("body").inner_text()
    assert '"error"' not in body and "request_id" not in body, "raw JSON in the page"
    return message


def test_a_file_that_is_not_an_image_shows_a_clear_error(page, server):
    page.goto(server)
    with page.expect_response("**/predict") as response:
        page.get_by_label("Choose a photo").set_input_files(
            upload("notes.txt", b"These are my notes, not a photo.\n" * 20, "text/plain"))
    assert response.value.status in (400, 415)
    message = expect_error(page, "That file could not be read"
                           if response.value.status == 400 else "That file type is not supported")
    assert re.search(r"JPEG|PNG|image", message), message


def test_an_empty_file_shows_a_clear_error(page, server):
    page.goto(server)
    page.get_by_label("Choose a photo").set_input_files(upload("empty.jpg", b""))
    expect_error(page, "That file could not be read", "empty")


def test_submitting_without_a_photo_says_to_choose_one(page, server):
    page.goto(server)
    posts = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST"
            else None)
    page.get_by_role("button", name="Classify photo").click()
    # The browser's own validation stops it (the input is required), or else the script does.
    if page.locator("#photo").evaluate("input => input.validity.valueMissing"):
        expect(page.locator("#result")).to_be_empty()
    else:
        expect_error(page, "No photo was chosen", "Choose a photo")
    assert posts == [] and page.url.rstrip("/") == server


def test_an_oversize_file_is_refused_in_the_page_before_uploading(page, small_server, colour_photo):
    page.goto(small_server)
    expect(page.locator("#photo-help")).to_contain_text(f"up to {SMALL_LIMIT_TEXT}")
    uploads = []
    page.on("request", lambda request: uploads.append(request.url) if request.method == "POST"
            else None)
    big = colour_photo("red", size=(1600, 1200)) + b"\0" * 300_000
    assert len(big) > SMALL_LIMIT
    page.get_by_label("Choose a photo").set_input_files(upload("holiday.jpg", big))
    message = expect_error(page, "That file is too large")
    assert message == (f"holiday.jpg is {math.ceil(len(big) / 1024)} KiB; the limit is "
                       f"{SMALL_LIMIT_TEXT}. Choose a smaller photo.")
    page.get_by_role("button", name="Classify photo").click()
    expect_error(page, "That file is too large")
    assert uploads == [], "the oversize file was uploaded anyway"


def test_an_upload_the_server_refuses_as_too_large_shows_the_servers_message(page, small_server,
                                                                             colour_photo):
    """A file just under the limit passes the script's check, but the request body (the file
    plus the multipart framing) is over it: the server's 413 must reach the page."""
    page.goto(small_server)
    almost = colour_photo("red")
    almost += b"\0" * (SMALL_LIMIT - len(almost) - 10)
    with page.expect_response("**/predict") as response:
        page.get_by_label("Choose a photo").set_input_files(upload("almost.jpg", almost))
    assert response.value.status == 413
    expect_error(page, "That file is too large", SMALL_LIMIT_TEXT)
