"""The batch command runs through the service's engine: batched forward passes, bounded by
--batch-size, and the same answers as the HTTP API."""

from __future__ import annotations

import csv
import io

from service.batch_command import main
from service.engine.inference import InferenceRunner


def test_photos_share_forward_passes_of_at_most_batch_size(many_photos, tiny_model_path,
                                                           monkeypatch, capsys):
    sizes: list[int] = []
    real = InferenceRunner.run_batch

    def recording(self, pixels):
        sizes.append(len(pixels))
        return real(self, pixels)

    monkeypatch.setattr(InferenceRunner, "run_batch", recording)
    assert main([str(many_photos), "--batch-size", "4", "--model", str(tiny_model_path)]) == 0
    assert sum(sizes) == 11 and max(sizes) <= 4
    assert len(sizes) < 11  # batched, not one pass per photo
    err = capsys.readouterr().err
    assert "classified 11 photo(s), skipped 1;" in err and "images/s over" in err


def test_the_command_agrees_with_the_api(many_photos, tiny_model_path, client, capsys):
    assert main([str(many_photos), "--model", str(tiny_model_path)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    for row in rows[:4]:
        with open(row["path"], "rb") as photo:
            answer = client.post("/predict", files={"file": ("p.jpg", photo, "image/jpeg")})
        assert answer.json()["species"] == row["species"]
        assert abs(answer.json()["confidence"] - float(row["confidence"])) <= 5e-5  # API: 4 places
