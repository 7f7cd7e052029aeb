"""POST /predict/measurements with the shipped measurements model; /model, /readyz, /metrics."""

from __future__ import annotations

import json

import pytest

from service.model.measurements import load_measurements_model
from service.settings import DEFAULT_MEASUREMENTS_MODEL_PATH

URL = "/predict/measurements"
# Real birds of the Palmer Penguins data, one per species.
GENTOO = {"bill_length_mm": 45.1, "bill_depth_mm": 14.5, "flipper_length_mm": 210,
          "body_mass_g": 4500, "sex": "male", "island": "Biscoe", "year": 2008}
ADELIE = {"bill_length_mm": 39.1, "bill_depth_mm": 18.7, "flipper_length_mm": 181,
          "body_mass_g": 3750, "sex": "male", "island": "Torgersen", "year": 2007}
CHINSTRAP = {"bill_length_mm": 46.5, "bill_depth_mm": 17.9, "flipper_length_mm": 192,
             "body_mass_g": 3500, "sex": "female", "island": "Dream", "year": 2007}
BILL_AND_FLIPPER = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm")


def post(client, body):
    return client.post(URL, json=body)


def error_of(response, status=422):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "request_id"}
    return body["error"]


@pytest.mark.parametrize(("bird", "species"), [
    (GENTOO, "Gentoo"), (ADELIE, "Adelie"), (CHINSTRAP, "Chinstrap")])
def test_one_bird_gets_its_species_with_calibrated_probabilities(client, bird, species):
    response = post(client, bird)
    assert response.status_code == 200
    body = response.json()
    assert body["species"] == species
    assert body["confidence"] == body["probabilities"][species] > 0.8
    assert set(body["probabilities"]) == {"Adelie", "Chinstrap", "Gentoo"}
    assert sum(body["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
    assert body["features_missing"] == [] and body["warnings"] == []
    assert body["model_version"] == "1.0.0"


def test_optional_features_may_be_left_out_and_the_answer_says_so(client):
    bird = {name: ADELIE[name] for name in BILL_AND_FLIPPER}
    body = post(client, {**bird, "sex": None}).json()
    assert body["species"] == "Adelie"
    assert body["features_used"] == list(BILL_AND_FLIPPER)
    assert body["features_missing"] == ["body_mass_g", "year", "sex", "island"]


def test_the_answer_comes_from_the_submodel_of_the_features_given(client):
    model = load_measurements_model(DEFAULT_MEASUREMENTS_MODEL_PATH)
    without_island = {k: v for k, v in CHINSTRAP.items() if k != "island"}
    from service.model.measurements import predict
    expected = predict(model, {**without_island, "sex": "female"})
    body = post(client, without_island).json()
    assert body["features_missing"] == ["island"]
    assert body["probabilities"] == {k: round(v, 4) for k, v in expected.probabilities.items()}


def test_a_value_outside_the_training_range_is_answered_with_a_warning(client):
    body = post(client, {**GENTOO, "flipper_length_mm": 400}).json()
    assert body["species"] in {"Adelie", "Chinstrap", "Gentoo"}
    assert len(body["warnings"]) == 1
    assert "flipper_length_mm 400 mm is outside the range seen in training" in body["warnings"][0]


def test_categories_are_matched_without_case_and_unknown_fields_are_ignored_with_a_warning(
        client):
    body = post(client, {**GENTOO, "island": "biscoe", "sex": "MALE", "colour": "black"}).json()
    assert body["species"] == "Gentoo" and body["features_missing"] == []
    assert any("'colour'" in warning for warning in body["warnings"])


@pytest.mark.parametrize(("body", "code", "field", "reason"), [
    ({"bill_length_mm": 45.1, "flipper_length_mm": 210}, "missing_measurement",
     "bill_depth_mm", "is required"),
    ({}, "missing_measurement", "bill_length_mm", "is required"),
    ({**GENTOO, "bill_length_mm": -3}, "invalid_measurement", "bill_length_mm",
     "must be greater than 0, got -3"),
    ({**GENTOO, "body_mass_g": 0}, "invalid_measurement", "body_mass_g", "greater than 0"),
    ({**GENTOO, "island": "Atlantis"}, "invalid_measurement", "island",
     "must be one of Biscoe, Dream, Torgersen, got text 'Atlantis'"),
    ({**GENTOO, "sex": "unknown"}, "invalid_measurement", "sex", "must be one of female, male"),
    ({**GENTOO, "sex": 1}, "invalid_measurement", "sex", "got a number (1)"),
    ({**GENTOO, "bill_depth_mm": "14.5"}, "invalid_measurement", "bill_depth_mm",
     "must be a number in mm, got text '14.5'"),
    ({**GENTOO, "bill_depth_mm": True}, "invalid_measurement", "bill_depth_mm",
     "got a boolean (true)"),
    ({**GENTOO, "bill_depth_mm": [14.5]}, "invalid_measurement", "bill_depth_mm", "got a list"),
    ({**GENTOO, "year": 2008.5}, "invalid_measurement", "year", "must be a whole number"),
    ("a string", "invalid_measurement", "record", "must be a JSON object"),
])
def test_a_bad_record_gets_422_naming_the_field_and_the_reason(client, body, code, field,
                                                              reason):
    error = error_of(post(client, body))
    assert error["code"] == code
    assert f"{field}: " in error["message"] and reason in error["message"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_get_422(client, literal):
    text = json.dumps({**GENTOO, "flipper_length_mm": 0}).replace('"flipper_length_mm": 0',
                                                                  f'"flipper_length_mm": {literal}')
    response = client.post(URL, content=text, headers={"Content-Type": "application/json"})
    error = error_of(response)
    assert error["code"] == "invalid_measurement"
    assert "flipper_length_mm: must be a finite number" in error["message"]


def test_an_integer_too_large_for_a_float_gets_422(client):
    text = '{"bill_length_mm": 45.1, "bill_depth_mm": 14.5, "flipper_length_mm": 1%s}' % (
        "0" * 400)
    response = client.post(URL, content=text, headers={"Content-Type": "application/json"})
    error = error_of(response)
    assert "flipper_length_mm: must be a finite number, got an integer of about 400 digits" in (
        error["message"])


def test_every_problem_of_a_record_is_reported_at_once(client):
    error = error_of(post(client, {"bill_length_mm": -1, "flipper_length_mm": "long",
                                   "island": "Mars"}))
    assert error["code"] == "invalid_measurement"
    for field in ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "island"):
        assert f"{field}: " in error["message"]


def test_a_list_answers_each_record_in_order_with_per_row_errors(client):
    records = [GENTOO, {**ADELIE, "bill_depth_mm": -3}, CHINSTRAP, "not a bird"]
    response = post(client, records)
    assert response.status_code == 200
    body = response.json()
    assert body["model_version"] == "1.0.0"
    results = body["results"]
    assert [r["row"] for r in results] == [1, 2, 3, 4]
    assert [r.get("species") for r in results] == ["Gentoo", None, "Chinstrap", None]
    assert results[1]["error"]["code"] == "invalid_measurement"
    assert results[1]["fields"] == ["bill_depth_mm"]
    assert results[3]["fields"] == ["record"]


def test_an_empty_list_gets_422(client):
    error = error_of(post(client, []))
    assert error["code"] == "empty_batch"


def test_too_many_records_get_422(serve, settings_for):
    with serve(settings_for(max_measurement_rows=3)) as small:
        assert post(small, [GENTOO] * 3).status_code == 200
        error = error_of(post(small, [GENTOO] * 4))
        assert error["code"] == "too_many_rows" and "at most 3" in error["message"]
        csv = "bill_length_mm,bill_depth_mm,flipper_length_mm\n" + "45.1,14.5,210\n" * 4
        error = error_of(small.post(URL, files={"file": ("birds.csv", csv, "text/csv")}))
        assert error["code"] == "too_many_rows"


def test_malformed_json_is_400(client):
    response = client.post(URL, content=b'{"bill_length_mm": 4', headers={
        "Content-Type": "application/json"})
    assert error_of(response, 400)["code"] == "malformed_request"
    response = client.post(URL, content=b"\xff\xfe", headers={"Content-Type": "application/json"})
    assert error_of(response, 400)["code"] == "malformed_request"


def test_an_unsupported_content_type_is_415(client):
    response = client.post(URL, content=b"bill=45", headers={"Content-Type": "text/plain"})
    assert error_of(response, 415)["code"] == "unsupported_media_type"


CSV = """species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year
Gentoo,Biscoe,45.1,14.5,210,4500,male,2008
Adelie,Torgersen,39.1,18.7,181,3750,NA,2007
?,Dream,46.5,-17.9,192,3500,female,2007
Chinstrap,Dream,46.5,17.9,192,,female,
?,Torgersen,abc,18.7,181,3750,male,2007
"""


def test_a_csv_upload_answers_one_result_per_row_in_order(client):
    response = client.post(URL, files={"file": ("birds.csv", CSV.encode(), "text/csv")})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["row"] for r in results] == [1, 2, 3, 4, 5]
    assert [r.get("species") for r in results] == ["Gentoo", "Adelie", None, "Chinstrap", None]
    assert "sex" in results[1]["features_missing"]  # NA means not measured
    assert results[3]["features_missing"] == ["body_mass_g", "year"]
    assert results[2]["fields"] == ["bill_depth_mm"]
    assert "must be greater than 0" in results[2]["error"]["message"]
    assert results[4]["fields"] == ["bill_length_mm"]
    assert "got text 'abc'" in results[4]["error"]["message"]
    # The 'species' column is not a feature: a warning, not an error.
    assert any("'species'" in warning for warning in results[0]["warnings"])


def test_a_raw_csv_body_and_a_byte_order_mark_are_accepted(client):
    body = ("\ufeff" + CSV).encode()
    response = client.post(URL, content=body, headers={"Content-Type": "text/csv"})
    assert response.status_code == 200 and len(response.json()["results"]) == 5


@pytest.mark.parametrize(("csv", "code", "text"), [
    ("bill_length_mm,flipper_length_mm\n45.1,210\n", "missing_measurement",
     "the CSV has no 'bill_depth_mm' column"),
    ("bill_length_mm,bill_depth_mm,flipper_length_mm\n", "empty_batch", "no rows"),
    ("", "missing_measurement", "no header row"),
])
def test_a_csv_that_no_row_can_use_gets_422(client, csv, code, text):
    error = error_of(client.post(URL, files={"file": ("birds.csv", csv.encode(), "text/csv")}))
    assert error["code"] == code and text in error["message"]


def test_a_csv_the_parser_cannot_read_is_400(client):
    body = b"bill_length_mm,bill_depth_mm,flipper_length_mm\n45.1,14.5," + b"9" * 200_000
    response = client.post(URL, files={"file": ("birds.csv", body, "text/csv")})
    error = error_of(response, 400)
    assert error["code"] == "malformed_request" and "field larger than field limit" in (
        error["message"])


def test_a_form_without_the_file_or_with_bad_text_is_refused(client):
    error = error_of(client.post(URL, data={"other": "x"}, files={
        "upload": ("b.csv", b"x", "text/csv")}))
    assert error["code"] == "missing_file" and "'file'" in error["message"]
    response = client.post(URL, files={"file": ("b.csv", b"\xff\xfe\x00", "text/csv")})
    assert error_of(response, 400)["code"] == "malformed_request"


def test_model_describes_both_models(client, tiny_metadata):
    info = client.get("/model").json()
    assert info["version"] == tiny_metadata.version
    measurements = info["measurements"]
    assert measurements["version"] == "1.0.0" and len(measurements["sha256"]) == 64
    assert measurements["required"] == list(BILL_AND_FLIPPER)
    island = next(c for c in measurements["categories"] if c["name"] == "island")
    assert island["categories"] == ["Biscoe", "Dream", "Torgersen"]
    flipper = next(n for n in measurements["numbers"] if n["name"] == "flipper_length_mm")
    assert flipper["unit"] == "mm" and flipper["minimum"] < flipper["maximum"]
    assert measurements["metrics"]["all_features"]["accuracy"] >= 0.98


def test_metrics_count_the_endpoint_and_its_answers(serve, settings_for):
    with serve(settings_for()) as fresh:
        post(fresh, GENTOO)
        post(fresh, [ADELIE, {"bill_length_mm": 1}])
        post(fresh, {})
        text = fresh.get("/metrics").text
    assert ('penguin_http_requests_total{method="POST",route="/predict/measurements",'
            'status="200"} 2.0') in text
    assert 'penguin_measurement_predictions_total{species="Gentoo"} 1.0' in text
    assert 'penguin_measurement_predictions_total{species="Adelie"} 1.0' in text
    assert 'penguin_errors_total{code="missing_measurement"} 2.0' in text  # a row, a request
    assert 'penguin_model_ready{model="measurements"} 1.0' in text
    assert 'penguin_model_ready{model="photo"} 1.0' in text


def test_ready_only_when_both_models_are_loaded(serve, settings_for, tmp_path):
    with serve(settings_for(measurements_model_path=tmp_path / "absent.json")) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert "measurements model could not be loaded" in ready.json()["error"]["message"]
        error = error_of(post(client, GENTOO), 503)
        assert error["code"] == "model_unavailable" and "absent.json" in error["message"]
        assert client.get("/model").json()["measurements"] is None
        assert client.post("/predict", content=b"x", headers={
            "Content-Type": "image/png"}).status_code == 400  # the photo model still answers
        metrics = client.get("/metrics").text
    # The metrics say which model keeps the service unready.
    assert 'penguin_model_ready{model="photo"} 1.0' in metrics
    assert 'penguin_model_ready{model="measurements"} 0.0' in metrics
    assert 'penguin_model_status{model="measurements",status="failed"} 1.0' in metrics
    assert 'penguin_model_status{model="photo",status="ready"} 1.0' in metrics


def test_openapi_documents_the_endpoint_with_examples(client):
    operation = client.get("/openapi.json").json()["paths"][URL]["post"]
    assert "curl -F file=@birds.csv" in operation["description"]
    content = operation["requestBody"]["content"]
    assert {"application/json", "multipart/form-data", "text/csv"} <= set(content)
    assert "one bird" in content["application/json"]["examples"]
    assert {"200", "400", "415", "422", "503"} <= set(operation["responses"])
    examples = operation["responses"]["422"]["content"]["application/json"]["examples"]
    assert {"missing_measurement", "invalid_measurement", "empty_batch", "too_many_rows"} <= set(
        examples)
