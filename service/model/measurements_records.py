"""Turning what a client sent (a JSON object, a JSON list, a CSV file) into checked records,
and checked records into answers.

Knows no HTTP and no engine: the API and the batch command (service/batch/measurements.py) both
call it, so a spreadsheet row is judged and answered the same way everywhere.
What a value may be comes from the model file (units, ranges, categories), never from constants
repeated here.

A record's problems are all reported at once, each naming its field, so a researcher fixes a
row in one go. Values outside the range seen in training are accepted with a warning: a bird
with 400 mm flippers gets an answer and is told it is an extrapolation.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from service.model.errors import ApiError
from service.model.measurements import (
    CategoryFeature,
    MeasurementPrediction,
    MeasurementsModel,
    NumberFeature,
    Value,
    predict,
)

MISSING_CELLS = frozenset({"", "na", "nan", "null", "none"})


@dataclass(frozen=True)
class Problem:
    field: str
    reason: str


class RecordRejected(ApiError):
    """A record (or a whole request) that cannot be answered, with every field's reason.

    An `ApiError` (422) like every refusal, so a request refused as a whole needs no conversion;
    `detail` alone (the fields and their reasons) is what a batch's row error says.
    """

    def __init__(self, code: str, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(422, code, f"The measurements cannot be used: {self.detail}")

    @property
    def detail(self) -> str:
        return "; ".join(f"{problem.field}: {problem.reason}" for problem in self.problems) + "."

    @property
    def fields(self) -> list[str]:
        return [problem.field for problem in self.problems]


@dataclass(frozen=True)
class CheckedRecord:
    values: dict[str, Value]
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Answer:
    """One record's prediction and the warnings about its values."""

    prediction: MeasurementPrediction
    warnings: list[str]


def answer(model: MeasurementsModel, raw: object) -> Answer:
    """One record's answer; raises RecordRejected naming every bad field."""
    checked = check_record(raw, model)
    return Answer(predict(model, checked.values), checked.warnings)


def answer_each(model: MeasurementsModel, records: list[object]) -> list[Answer | RecordRejected]:
    """Every record's answer in order; a bad record gets its rejection and spoils no other."""
    outcomes: list[Answer | RecordRejected] = []
    for raw in records:
        try:
            outcomes.append(answer(model, raw))
        except RecordRejected as rejected:
            outcomes.append(rejected)
    return outcomes


def check_record(raw: object, model: MeasurementsModel) -> CheckedRecord:
    """A record the model can answer, or `RecordRejected` naming every bad field.

    Numbers must be JSON numbers (a string is refused, even "45.1": a spreadsheet export that
    quotes numbers is a bug worth hearing about), finite and positive. Absent and null mean the
    same thing: not measured.
    """
    if not isinstance(raw, Mapping):
        raise RecordRejected("invalid_measurement", [Problem(
            "record", f"must be a JSON object of measurements, got {_described(raw)}")])
    values: dict[str, Value] = {}
    problems: list[Problem] = []
    warnings: list[str] = []
    for name, feature in model.features().items():
        value = raw.get(name)
        if value is None:
            if feature.required:
                problems.append(Problem(name, "is required"))
            continue
        if isinstance(feature, NumberFeature):
            checked = _check_number(value, feature, problems)
        else:
            checked = _check_category(value, feature, problems)
        if checked is not None:
            values[name] = checked
            warnings.extend(_range_warning(checked, feature))
    ignored = [str(key) for key in raw if key not in model.features()]
    if ignored:
        warnings.append(f"ignored unknown field(s) {', '.join(map(repr, ignored))}; the model "
                        f"reads {', '.join(model.feature_names)}")
    if problems:
        only_missing = all(problem.reason == "is required" for problem in problems)
        raise RecordRejected("missing_measurement" if only_missing else "invalid_measurement",
                             problems)
    return CheckedRecord(values, warnings)


def _check_number(value: object, feature: NumberFeature, problems: list[Problem]) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(Problem(feature.name, f"must be a number in {feature.unit}, got "
                                              f"{_described(value)}"))
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer with hundreds of digits
        number = math.inf
    if not math.isfinite(number):
        problems.append(Problem(feature.name, f"must be a finite number, got {_shown(value)}"))
        return None
    if number <= 0:
        problems.append(Problem(feature.name, f"must be greater than 0, got {_number(number)}"))
        return None
    if feature.integer and not number.is_integer():
        problems.append(Problem(feature.name, f"must be a whole number, got {_number(number)}"))
        return None
    return number


def _check_category(value: object, feature: CategoryFeature, problems: list[Problem]) -> str | None:
    allowed = {category.lower(): category for category in feature.categories}
    if isinstance(value, str) and value.strip().lower() in allowed:
        return allowed[value.strip().lower()]
    problems.append(Problem(feature.name, f"must be one of {', '.join(feature.categories)}, got "
                                          f"{_described(value)}"))
    return None


def _range_warning(value: Value, feature: NumberFeature | CategoryFeature) -> list[str]:
    if not isinstance(feature, NumberFeature) or not isinstance(value, float):
        return []
    if feature.minimum <= value <= feature.maximum:
        return []
    return [f"{feature.name} {_number(value)} {feature.unit} is outside the range seen in "
            f"training ({_number(feature.minimum)}-{_number(feature.maximum)} {feature.unit}); "
            "the answer is an extrapolation"]


def read_csv_rows(text: str, model: MeasurementsModel, max_rows: int) -> list[dict[str, object]]:
    """The rows of a CSV with a header, as records with numbers parsed and empty cells absent.

    A cell that is not a number stays a string, so `check_record` refuses it with its field
    name. Refuses the whole file (RecordRejected) when it has no rows, too many, or lacks a
    required column: every row would fail the same way. A file the csv module cannot parse (a
    cell over its 128 KiB field limit) raises `csv.Error`.
    """
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or []]
    absent = [name for name in model.required if name not in header]
    if absent:
        found = ", ".join(header) or "no header row"
        raise RecordRejected("missing_measurement", [
            Problem(name, f"the CSV has no '{name}' column (found: {found})") for name in absent])
    rows = []
    for row in _limited(reader, max_rows):
        rows.append({key.strip(): _cell(value) for key, value in row.items()
                     if key is not None and not _is_missing(value)})
    if not rows:
        raise RecordRejected("empty_batch", [Problem("file", "the CSV has a header but no rows")])
    return rows


def _limited(reader: csv.DictReader, max_rows: int) -> Iterator[dict]:
    for number, row in enumerate(reader, start=1):
        if number > max_rows:
            raise RecordRejected("too_many_rows", [Problem(
                "file", f"more than {max_rows} rows; send at most {max_rows} per request")])
        yield row


def check_list_size(records: list, max_rows: int) -> None:
    if not records:
        raise RecordRejected("empty_batch", [Problem("body", "the list is empty; send at least "
                                                             "one record")])
    if len(records) > max_rows:
        raise RecordRejected("too_many_rows", [Problem(
            "body", f"{len(records)} records; send at most {max_rows} per request")])


def _cell(value: object) -> object:
    """Numbers to float for number columns; anything unparsable is left as text to refuse."""
    if not isinstance(value, str):  # DictReader's restval list for extra cells
        return value
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        return text


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in MISSING_CELLS)


def _described(value: object) -> str:
    """How a refused value reads in a message: "text 'abc'", "a boolean (true)", "a list"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, str):
        shown = repr(value) if len(value) <= 40 else repr(value[:37] + "...")
        return f"text {shown}"
    if isinstance(value, int | float):
        return f"a number ({_number(float(value))})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _shown(value: int | float) -> str:
    """A refused number as the client wrote it, or its size when it is enormous."""
    if isinstance(value, int) and value.bit_length() > 128:
        return f"an integer of about {int(value.bit_length() * math.log10(2))} digits"
    return str(value)


def _number(value: float) -> str:
    return f"{value:g}"
