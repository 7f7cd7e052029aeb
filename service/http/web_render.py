"""HTML for the upload page, from the small templates in service/http/templates/.

The same result, bar and error markup is rendered here for the no-JavaScript form post and
shipped inside <template> elements for the script, so both paths show identical pages.
Every value that came from a client (file names, messages quoting them) is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
from importlib import resources
from string import Template

from service.http.schemas import Timing
from service.http.wording import display_label, rejection_message
from service.model.classifier import Prediction
from service.model.measurements import MeasurementPrediction
from service.model.metadata import ModelMetadata
from service.settings import describe_limit

ERROR_HEADINGS = {
    400: "That file could not be read",
    404: "Nothing here",
    405: "That did not work",
    413: "That file is too large",
    415: "That file type is not supported",
    422: "No photo was received",
    500: "Something went wrong on our side",
    503: "The classifier is not ready",
}
TITLE = "Penguin classifier"


def _load_templates() -> dict[str, Template]:
    folder = resources.files("service.http") / "templates"
    return {name: Template((folder / f"{name}.html").read_text(encoding="utf-8"))
            for name in ("page", "result", "bar", "error", "measurements_result")}


class PageRenderer:
    """Renders whole pages; the upload limit is shown in the form and enforced by its script."""

    def __init__(self, max_upload_bytes: int) -> None:
        self.max_upload_bytes = max_upload_bytes
        self.templates = _load_templates()

    def index(self) -> str:
        return self._page(TITLE, result="")

    def result(self, prediction: Prediction, metadata: ModelMetadata, timing: Timing, *,
               filename: str, preview_jpeg: bytes) -> str:
        headline = (
            "No penguin recognised" if prediction.rejected else f"{prediction.species} penguin")
        bars = "".join(
            self._bar(label, probability, is_answer=label == prediction.species)
            for label, probability in prediction.probabilities.items()
        )
        fragment = self.templates["result"].substitute(
            verdict_class="is-rejected" if prediction.rejected else "is-species",
            preview_src=preview_data_url(preview_jpeg),
            filename=html.escape(filename),
            headline=html.escape(headline),
            confidence=f"Confidence: {_percent(prediction.confidence)}",
            message=html.escape(rejection_message(metadata.species)) if prediction.rejected else "",
            bars=bars,
            timing=describe_timing(timing),
        )
        return self._page(f"{headline} – {TITLE}", result=fragment)

    def measurements_result(self, prediction: MeasurementPrediction, given: dict[str, str],
                            warnings: list[str]) -> str:
        """The measurements form's answer, laid out like a photo's: what was sent, then the
        verdict and its bars."""
        headline = f"{prediction.species} penguin"
        missing = ", ".join(name.removesuffix("_mm").removesuffix("_g").replace("_", " ")
                            for name in prediction.features_missing)
        fragment = self.templates["measurements_result"].substitute(
            measurements="".join(f"<dt>{html.escape(name)}</dt><dd>{html.escape(value)}</dd>"
                                 for name, value in given.items()),
            headline=html.escape(headline),
            confidence=f"Confidence: {_percent(prediction.confidence)}",
            message=html.escape(f"Answered without {missing}.") if missing else "",
            warnings="".join(f"<li>{html.escape(warning)}</li>" for warning in warnings),
            bars="".join(self._bar(label, p, is_answer=label == prediction.species)
                         for label, p in prediction.probabilities.items()),
        )
        return self._page(f"{headline} – {TITLE}", result=fragment, measurements_open=True)

    def error(self, status: int, message: str, heading: str | None = None, *,
              measurements_open: bool = False) -> str:
        heading = heading or ERROR_HEADINGS.get(status, "That did not work")
        fragment = self.templates["error"].substitute(
            heading=html.escape(heading), message=html.escape(message))
        return self._page(f"{heading} – {TITLE}", result=fragment,
                          measurements_open=measurements_open)

    def _page(self, title: str, *, result: str, measurements_open: bool = False) -> str:
        """`measurements_open`: the measurements form is unfolded, ready for the next bird."""
        return self.templates["page"].substitute(
            title=html.escape(title),
            measurements_open=" open" if measurements_open else "",
            max_bytes=self.max_upload_bytes,
            # "10 MiB" must not wrap between the number and its unit.
            max_size=describe_limit(self.max_upload_bytes).replace(" ", "\u00a0"),
            result=result,
            result_template=self.templates["result"].substitute(
                verdict_class="", preview_src="", filename="", headline="", confidence="",
                message="", bars="", timing=""),
            bar_template=self.templates["bar"].substitute(
                answer_class="", label="", width="0", value=""),
            error_template=self.templates["error"].substitute(heading="", message=""),
        )

    def _bar(self, label: str, probability: float, *, is_answer: bool) -> str:
        return self.templates["bar"].substitute(
            answer_class="is-answer" if is_answer else "",
            label=html.escape(display_label(label)),
            width=f"{probability * 100:.1f}",
            value=_percent(probability),
        )


def describe_timing(timing: Timing) -> str:
    """The request's time split as the Server-Timing header gives it (app.js writes the same)."""
    return (f"Answered in {timing.total:.1f} ms: decoding {timing.decode:.1f} ms, "
            f"queue {timing.queue:.1f} ms, inference {timing.inference:.1f} ms.")


def preview_data_url(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def _percent(probability: float) -> str:
    return f"{probability:.0%}"
