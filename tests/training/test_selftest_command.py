"""`python -m training.selftest` records known answers for an already exported model, rewriting
only its metadata: the model file and its checksum stay as they were."""

from __future__ import annotations

import shutil

from service.model.metadata import read_metadata, sha256_of, write_metadata
from training import selftest


def test_recording_known_answers_for_an_old_model_touches_only_its_metadata(
        tiny_model_path, tmp_path, serve, settings_for, capsys):
    model_path = tmp_path / tiny_model_path.name
    shutil.copy(tiny_model_path, model_path)
    shutil.copy(tiny_model_path.with_suffix(".json"), model_path.with_suffix(".json"))
    old = read_metadata(model_path).model_copy(update={"known_answers": None})
    write_metadata(model_path, old)
    model_bytes = model_path.read_bytes()

    selftest.main(["--model", str(model_path), "--count", "3", "--tolerance", "0.002"])

    assert model_path.read_bytes() == model_bytes and sha256_of(model_path) == old.sha256
    new = read_metadata(model_path)
    assert new.model_copy(update={"known_answers": None}) == old  # nothing else changed
    assert len(new.known_answers.references) == 3 and new.known_answers.tolerance == 0.002
    assert "recorded 3 known answers" in capsys.readouterr().out
    with serve(settings_for(model_path=model_path)) as client:
        assert client.get("/model").json()["selftest"]["status"] == "passed"
