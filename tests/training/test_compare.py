"""`training.compare`: the exact McNemar test between two models' answers on the same photos."""

import json
from pathlib import Path

import pytest

from training import evaluate
from training.compare import compare, exact_mcnemar_p
from training.compare import main as compare_main
from training.evaluate import main as evaluate_main

SHIPPED = Path(__file__).resolve().parents[2] / "weights" / "penguin_classifier.pt"


def report(answers: dict[str, tuple[str, str]]) -> dict:
    """An evaluation report's per-photo part: photo -> (expected, answer)."""
    return {"photos": [{"photo": photo, "expected": expected, "answer": answer, "confidence": 0.9}
                       for photo, (expected, answer) in answers.items()]}


@pytest.mark.parametrize(
    ("only_first", "only_second", "p"),
    [(0, 0, 1.0), (4, 2, 0.6875), (2, 4, 0.6875), (0, 5, 0.0625), (10, 0, 2 / 1024)],
)
def test_exact_mcnemar_p_is_the_two_sided_binomial_tail(only_first, only_second, p):
    assert exact_mcnemar_p(only_first, only_second) == pytest.approx(p)


def test_compare_counts_only_the_photos_where_the_models_disagree():
    first = report({"a.jpg": ("Adelie", "Adelie"), "b.jpg": ("Gentoo", "no_penguin"),
                    "c.jpg": ("no_penguin", "no_penguin"), "d.jpg": ("Gentoo", "Gentoo")})
    second = report({"a.jpg": ("Adelie", "Chinstrap"), "b.jpg": ("Gentoo", "Gentoo"),
                     "c.jpg": ("no_penguin", "no_penguin"), "d.jpg": ("Gentoo", "Adelie")})
    result = compare(first, second)
    assert result["first_right"] == 3 and result["second_right"] == 2
    assert result["only_first_right"] == ["a.jpg", "d.jpg"]
    assert result["only_second_right"] == ["b.jpg"]
    assert result["mcnemar_exact_p"] == 1.0


def test_reports_of_different_photos_are_refused():
    with pytest.raises(ValueError, match="not of the same photos"):
        compare(report({"a.jpg": ("Adelie", "Adelie")}), report({"z.jpg": ("Adelie", "Adelie")}))


def test_evaluation_reports_every_photo_and_compare_reads_them(tiny_dataset, tmp_path, capsys):
    path = tmp_path / "report.json"
    assert evaluate_main(["--model", str(SHIPPED), "--data", str(tiny_dataset),
                          "--report", str(path)]) == 0
    photos = json.loads(path.read_text())["photos"]
    assert len(photos) == sum(1 for _ in (tiny_dataset / "test").rglob("*.jpg"))
    assert {row["expected"] for row in photos} == {"Adelie", "Chinstrap", "Gentoo", "no_penguin"}
    capsys.readouterr()
    assert compare_main([str(path), str(path)]) == 0
    same = json.loads(capsys.readouterr().out)
    assert same["only_first_right"] == same["only_second_right"] == []
    assert same["mcnemar_exact_p"] == 1.0


def test_evaluation_measures_the_precision_it_is_asked_for(tiny_dataset, tmp_path,
                                                           monkeypatch):
    """`--precision bfloat16` evaluates what a bfloat16 service answers, not float32's."""
    asked = []
    real = evaluate.load_classifier

    def recording(path, **options):
        asked.append(options.get("precision"))
        return real(path, **options)

    monkeypatch.setattr(evaluate, "load_classifier", recording)
    path = tmp_path / "bf16.json"
    assert evaluate_main(["--model", str(SHIPPED), "--data", str(tiny_dataset), "--report",
                          str(path), "--precision", "bfloat16"]) == 0
    assert asked == ["bfloat16"]
    assert json.loads(path.read_text())["images"] > 0


def test_a_report_without_per_photo_answers_is_refused_with_the_fix(tmp_path):
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"species_accuracy": 0.9}))
    with pytest.raises(SystemExit, match="no per-photo answers"):
        compare_main([str(old), str(old)])
