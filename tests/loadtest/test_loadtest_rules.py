"""The load test's rules without Locust running: answer checks, scenario tables, waits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loadtest.checks import check_batch, check_prediction, check_result_page
from loadtest.scenarios import scenario_named, stage_at
from loadtest.waits import describe_wait, parse_wait, wait_time_for

REPO_ROOT = Path(__file__).resolve().parents[2]
GOOD = {"species": "Gentoo", "confidence": 0.93, "rejected": False}


@pytest.mark.parametrize("body", [
    GOOD, {"species": "no_penguin", "confidence": 1.0}, {"species": "Adelie", "confidence": 0},
])
def test_a_known_label_with_a_probability_passes(body):
    assert check_prediction(body) is None


@pytest.mark.parametrize(("body", "complaint"), [
    ({"species": "Emperor", "confidence": 0.9}, "species 'Emperor'"),
    ({"species": "Adelie", "confidence": 1.2}, "not between 0 and 1"),
    ({"species": "Adelie", "confidence": -0.1}, "not between 0 and 1"),
    ({"species": "Adelie", "confidence": "high"}, "not a number"),
    ({"species": "Adelie", "confidence": True}, "not a number"),
    ({"species": "Adelie"}, "not a number"),
    (["Adelie"], "JSON object"),
])
def test_a_wrong_answer_is_named(body, complaint):
    assert complaint in check_prediction(body)


def test_labels_come_from_the_model_when_given():
    assert check_prediction({"species": "Emperor", "confidence": 0.5},
                            ("Emperor", "no_penguin")) is None


def test_a_batch_needs_one_good_entry_per_file():
    good = {"results": [{**GOOD, "filename": "a"}, {**GOOD, "filename": "b"}]}
    assert check_batch(good, 2) is None
    assert "2 results for 3 files" in check_batch(good, 3)
    failed = {"results": [{**GOOD, "filename": "a"},
                          {"filename": "b", "error": {"code": "bad_image", "message": "x"}}]}
    assert "file 1 failed" in check_batch(failed, 2)
    assert "no 'results'" in check_batch({"detail": "oops"}, 2)


def page(headline: str, confidence: str = "Confidence: 87%") -> str:
    return (f'<h2 id="result-heading" data-slot="headline" tabindex="-1">{headline}</h2>\n'
            f'<p class="confidence" data-slot="confidence">{confidence}</p>')


def test_the_result_page_names_a_species_or_no_penguin():
    assert check_result_page(page("Chinstrap penguin")) is None
    assert check_result_page(page("No penguin recognised")) is None
    assert "names no known species" in check_result_page(page("Emperor penguin"))
    assert "no confidence" in check_result_page(page("Gentoo penguin", confidence=""))
    assert "no result headline" in check_result_page("<html>upload form</html>")


def test_the_result_page_template_still_has_the_slots_the_check_reads():
    import service.http

    template = (Path(service.http.__file__).parent / "templates" / "result.html").read_text()
    assert 'data-slot="headline"' in template and 'data-slot="confidence"' in template


def test_the_studys_scenarios_have_its_users_and_durations():
    expected = {"baseline": (1, 60), "normal": (10, 300), "stress": (50, 120),
                "tenx": (100, 180)}
    for name, (users, seconds) in expected.items():
        scenario = scenario_named(name, {})
        assert max(stage.users for stage in scenario.stages) == users
        assert scenario.duration == seconds
    spike = scenario_named("spike", {})
    assert [stage.users for stage in spike.stages] == [1, 100, 1]
    assert spike.stages[0].seconds + spike.stages[1].seconds == 60


def test_stage_at_walks_the_table_and_ends():
    stages = scenario_named("spike", {}).stages
    assert stage_at(stages, 0) == (1, 1)
    assert stage_at(stages, 30) == (100, 10)
    assert stage_at(stages, 75) == (1, 100)
    assert stage_at(stages, 80) is None


def test_soak_and_ceiling_are_configured_from_the_environment():
    soak = scenario_named("soak", {"SOAK_USERS": "4", "SOAK_MINUTES": "2"})
    assert soak.duration == 120 and soak.stages[0].users == 4
    assert scenario_named("soak", {}).duration == 30 * 60
    ceiling = scenario_named("ceiling", {"CEILING_USERS": "1,5", "CEILING_STEP_SECONDS": "7"})
    assert [(stage.users, stage.seconds) for stage in ceiling.stages] == [(1, 7), (5, 7)]
    assert ceiling.no_wait
    with pytest.raises(ValueError, match="SOAK_MINUTES"):
        scenario_named("soak", {"SOAK_MINUTES": "half an hour"})
    with pytest.raises(ValueError, match="unknown scenario"):
        scenario_named("marathon", {})


def test_importing_the_helpers_does_not_import_locust():
    """Locust monkey-patches the process with gevent on import; the suite must stay unpatched.

    Checked in a fresh interpreter: another test may have imported locust into this one.
    """
    code = "import sys, loadtest.run; assert 'locust' not in sys.modules, 'locust imported'"
    finished = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=60)
    assert finished.returncode == 0, finished.stderr


def test_waits_default_to_the_study_and_none_removes_them():
    assert parse_wait("1-5") == (1, 5) and parse_wait("2") == (2, 2)
    assert parse_wait("none") == parse_wait("0") == (0, 0)
    assert describe_wait(None) == "1-5 s" and describe_wait("none") == "no wait"
    assert describe_wait("", no_wait_default=True) == "no wait"
    assert wait_time_for("none")(None) == 0
    assert 1 <= wait_time_for(None)(None) <= 5
    with pytest.raises(ValueError, match="WAIT"):
        parse_wait("5-1")
    with pytest.raises(ValueError, match="WAIT"):
        parse_wait("soon")
