"""The upload page: works as a plain form, shows results and errors as pages, no outside assets."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser

import pytest
from PIL import Image


class PageOutline(HTMLParser):
    """The parts of a page the tests check: tags with attributes, and the text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.templates = 0  # inside <template>: inert markup for the script, not shown
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.templates += tag == "template"
        if not self.templates:
            self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        self.templates -= tag == "template"

    def handle_data(self, data):
        if data.strip() and not self.templates:
            self.text.append(data.strip())

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags
                if t == tag and all(a.get(k.rstrip("_")) == v for k, v in attrs.items())]


def classify(client, data: bytes, filename: str = "penguin.jpg"):
    return client.post("/classify", files={"file": (filename, data, "image/jpeg")})


def test_upload_page_is_a_working_plain_form(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = PageOutline(response.text)
    (form,) = page.find("form", id="upload-form")
    assert (form["action"], form["method"], form["enctype"]) == (
        "classify", "post", "multipart/form-data")
    (file_input,) = page.find("input", type="file")
    assert file_input["name"] == "file" and "image/jpeg" in file_input["accept"]
    assert page.find("label", for_=file_input["id"]), "the file input has a visible label"
    assert page.find("button", type="submit")
    assert page.find("meta", name="viewport")
    assert page.find("section", id="result")[0]["aria-live"] == "polite"
    assert page.find("html")[0]["lang"] == "en"


def test_page_uses_no_outside_resources_and_a_strict_policy(client):
    response = client.get("/")
    page = PageOutline(response.text)
    references = [a.get("src") or a.get("href") for _, a in page.tags
                  if a.get("src") or a.get("href")]
    assert references and all(not re.match(r"(https?:)?//", ref) for ref in references)
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'self'" in policy


@pytest.mark.parametrize(("path", "content_type", "marker"), [
    ("/static/style.css", "text/css", ":focus-visible"),
    ("/static/app.js", "javascript", "fetch("),
])
def test_static_assets_are_served(client, path, content_type, marker):
    response = client.get(path)
    assert response.status_code == 200
    assert content_type in response.headers["content-type"]
    assert marker in response.text
    assert response.headers["cache-control"] == "no-cache"  # new deploys are seen at once


def test_result_page_shows_species_confidence_bars_and_a_preview(client, photo):
    response = classify(client, photo("red", size=(1200, 900)))
    api_answer = client.post("/predict", files={"file": ("p.jpg", photo("red", size=(1200, 900)))})
    assert response.status_code == 200
    page = PageOutline(response.text)
    assert "Adelie penguin" in page.text
    confidence = f"Confidence: {api_answer.json()['confidence']:.0%}"
    assert confidence in page.text  # the same answer as the API gives
    bars = page.find("span", class_="bar-fill")
    widths = [float(re.search(r"width: ([\d.]+)%", bar["style"]).group(1)) for bar in bars]
    assert len(widths) == 4  # one bar per label
    assert widths[0] > 90 and sum(widths) == pytest.approx(100, abs=0.5)
    labels = [t for t in page.text if t in ("Adelie", "Chinstrap", "Gentoo", "No penguin")]
    assert labels == ["Adelie", "Chinstrap", "Gentoo", "No penguin"]
    (preview,) = [a for a in page.find("img") if a["src"].startswith("data:image/jpeg;base64,")]
    thumbnail = Image.open(io.BytesIO(base64.b64decode(preview["src"].split(",", 1)[1])))
    assert thumbnail.format == "JPEG" and thumbnail.size == (480, 360)  # sharp, not upscaled
    assert preview["alt"]
    timing = re.search(r"Answered in ([\d.]+) ms: decoding ([\d.]+) ms, queue ([\d.]+) ms, "
                       r"inference ([\d.]+) ms\.", " ".join(page.text))
    header = dict(entry.split(";")[:2] for entry in response.headers["Server-Timing"].split(", "))
    assert header.keys() == {"decode", "queue", "inference", "total"}
    assert [f"dur={value}" for value in timing.groups()] == [
        header[name] for name in ("total", "decode", "queue", "inference")]


def test_rejected_photo_says_no_penguin(client, photo):
    page = PageOutline(classify(client, photo("black")).text)
    assert "No penguin recognised" in page.text
    assert any("Adelie, Chinstrap or Gentoo" in t for t in page.text)


def test_file_names_are_escaped(client, photo):
    response = classify(client, photo("red"), filename="<img src=x onerror=alert(1)>.jpg")
    assert response.status_code == 200
    assert "<img src=x" not in response.text
    assert "&lt;img src=x onerror=alert(1)&gt;.jpg" in response.text


@pytest.mark.parametrize(("data", "status", "heading", "detail"), [
    (b"just some text", 400, "That file could not be read", "not a readable image"),
    (b"II*\x00" + b"\x00" * 32, 415, "That file type is not supported", "TIFF"),
    (b"", 400, "That file could not be read", "empty"),
])
def test_errors_are_shown_in_the_page_not_as_json(client, data, status, heading, detail):
    response = classify(client, data, filename="upload.bin")
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    page = PageOutline(response.text)
    assert heading in page.text and any(detail in t for t in page.text)
    assert page.find("form"), "the form is there to try again"


def test_submitting_the_form_without_choosing_a_photo(client):
    # What a browser sends for an empty file input: a part with an empty filename and no bytes.
    body = (b'--b\r\nContent-Disposition: form-data; name="file"; filename=""\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n\r\n--b--\r\n")
    response = client.post("/classify", content=body,
                           headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert response.status_code == 422
    assert any("No photo was chosen" in t for t in PageOutline(response.text).text)


def test_the_page_explains_when_the_model_is_unavailable(serve, settings_for, photo, tmp_path):
    with serve(settings_for(model_path=tmp_path / "missing.pt")) as broken:
        assert broken.get("/").status_code == 200
        response = classify(broken, photo("red"))
    assert response.status_code == 503
    assert "The classifier is not ready" in response.text and "missing" in response.text
