"""The page's second form, "I have measurements": a plain form post answered with a page."""

from __future__ import annotations

from test_web import PageOutline

BIRD = {"bill_length_mm": "45.1", "bill_depth_mm": "14.5", "flipper_length_mm": "210",
        "body_mass_g": "4500", "sex": "male", "island": "Biscoe", "year": "2008"}


def test_the_page_has_a_measurements_form_that_needs_no_script(client):
    page = PageOutline(client.get("/").text)
    (form,) = page.find("form", id="measurements-form")
    assert (form["action"], form["method"]) == ("classify-measurements", "post")
    names = {tag["name"] for tag in page.find("input") + page.find("select") if tag.get("name")}
    assert set(BIRD) <= names
    required = {tag["name"] for tag in page.find("input") if "required" in tag}
    assert {"bill_length_mm", "bill_depth_mm", "flipper_length_mm"} <= required
    assert "I have measurements" in page.text
    (folded,) = page.find("details", id="measurements")
    assert "open" not in folded, "the photo form comes first; the measurements unfold"


def test_posting_measurements_renders_the_answer_like_a_photos(client):
    response = client.post("/classify-measurements", data=BIRD)
    assert response.status_code == 200
    assert response.headers["content-security-policy"]
    page = PageOutline(response.text)
    assert "Gentoo penguin" in page.text
    assert any(text.startswith("Confidence: ") for text in page.text)
    assert [t for t in page.text if t in ("Adelie", "Chinstrap", "Gentoo")] == [
        "Adelie", "Chinstrap", "Gentoo"]
    assert "Flipper length (mm)" in page.text and "210" in page.text
    assert page.find("form", id="measurements-form"), "the form is there for the next bird"
    assert "open" in page.find("details", id="measurements")[0], "and unfolded"


def test_blank_optional_fields_are_left_out_and_the_page_says_so(client):
    bird = {**BIRD, "body_mass_g": "", "sex": "", "island": "", "year": ""}
    page = PageOutline(client.post("/classify-measurements", data=bird).text)
    assert "Answered without body mass, year, sex, island." in page.text


def test_an_out_of_range_value_is_shown_as_a_warning(client):
    page = PageOutline(client.post("/classify-measurements",
                                   data={**BIRD, "flipper_length_mm": "400"}).text)
    assert any("outside the range seen in training" in text for text in page.text)


def test_bad_measurements_render_an_error_page_naming_the_field(client):
    response = client.post("/classify-measurements", data={**BIRD, "bill_depth_mm": "-2",
                                                           "island": "Atlantis"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    page = PageOutline(response.text)
    assert "Those measurements cannot be used" in page.text
    message = " ".join(page.text)
    assert "bill_depth_mm: must be greater than 0" in message
    assert "island: must be one of" in message
