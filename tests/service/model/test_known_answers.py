"""The known answers that travel with a model: generated reference photos, recorded exactly."""

from __future__ import annotations

import io
import json

from PIL import Image

from service.model.classifier import load_classifier
from service.model.known_answers import largest_difference, photo_bytes, reference_photo
from service.model.metadata import KNOWN_ANSWER_TOLERANCE, ModelMetadata, read_metadata
from service.model.preprocessing import bytes_to_pixels


def test_reference_photos_are_deterministic_pngs_larger_than_the_input():
    first = reference_photo(16, 0, input_size=32)
    assert first == reference_photo(16, 0, input_size=32)
    assert first != reference_photo(16, 1, input_size=32) != reference_photo(17, 0, input_size=32)
    image = Image.open(io.BytesIO(first))
    assert image.format == "PNG" and image.size == (64, 48) and image.mode == "RGB"
    assert len(image.getcolors(maxcolors=64) or ()) > 1  # a mosaic, not a plain colour


def test_export_records_what_the_exported_file_answers(tiny_model_path, tiny_metadata):
    known = tiny_metadata.known_answers
    assert known is not None and known.tolerance == KNOWN_ANSWER_TOLERANCE
    assert len(known.references) >= 3
    classifier = load_classifier(tiny_model_path)
    for reference in known.references:
        pixels = bytes_to_pixels(photo_bytes(reference),
                                 size=tiny_metadata.preprocessing.input_size)
        (prediction,) = classifier.predict(pixels[None])
        assert prediction.probabilities == reference.probabilities  # exactly, not nearly
    answers = {max(r.probabilities, key=r.probabilities.get) for r in known.references}
    assert len(answers) > 1  # the references do not all get the same answer


def test_largest_difference_names_the_label_and_counts_a_missing_label_fully(tiny_metadata):
    reference = tiny_metadata.known_answers.references[0]
    moved = {**reference.probabilities, "Gentoo": reference.probabilities["Gentoo"] + 0.25}
    difference = largest_difference(reference, moved)
    assert difference.label == "Gentoo" and abs(difference.size - 0.25) < 1e-9
    assert "Gentoo" in difference.describe() and reference.name in difference.describe()
    renamed = {("Emperor" if label == "Gentoo" else label): p
               for label, p in reference.probabilities.items()}
    assert largest_difference(reference, renamed).size == float("inf")


def test_metadata_without_known_answers_still_loads(tiny_model_path):
    document = json.loads(tiny_model_path.with_suffix(".json").read_text())
    del document["known_answers"]
    assert ModelMetadata.model_validate(document).known_answers is None
    assert read_metadata(tiny_model_path).known_answers is not None
