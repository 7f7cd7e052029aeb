"""Accuracy by scene condition, for rendered datasets, whose manifest says what each photo shows.

One accuracy figure hides where a model fails. The renderer records each photo's conditions
(penguin size, crowds, cropping, light, blur, what a no-penguin photo shows instead) in
`manifest.jsonl`; joined with the model's answers they say which conditions break it, which is
what the model card and the operations guide report as the model's known edge cases.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

MANIFEST_NAME = "manifest.jsonl"

# Penguin area as a share of the frame, in the renderer's range of 15% to 90%.
SIZE_BUCKETS = ((0.25, "under 25% of the frame"), (0.5, "25-50%"), (float("inf"), "over 50%"))


def _natural_order(item: tuple[str, object]) -> tuple[int, str]:
    """Size buckets smallest first; any other condition's values alphabetically."""
    sizes = [name for _, name in SIZE_BUCKETS]
    value = item[0]
    return (sizes.index(value) if value in sizes else 0, value)


def read_manifest(root: Path) -> dict[Path, dict]:
    """Records of a rendered dataset by resolved image path; empty for any other folder."""
    manifest = root / MANIFEST_NAME
    if not manifest.is_file():
        return {}
    records = (json.loads(line) for line in manifest.read_text().splitlines() if line.strip())
    return {(root / record["path"]).resolve(): record for record in records}


def penguin_conditions(record: dict) -> dict[str, str]:
    """The conditions a photo with a penguin of a known species was rendered under."""
    area = record["penguin_area_fraction"]
    blur = record["blur"]
    return {
        "penguin size": next(name for limit, name in SIZE_BUCKETS if area < limit),
        "penguins in frame": "one" if record["n_penguins"] == 1 else "several",
        "cut by the border": "yes" if record["cropped"] else "no",
        "partly hidden": "yes" if record["occluded"] else "no",
        "pose": str(record["pose"]),
        "light": record["light"],
        "blurred": "yes" if blur["defocus"] > 0.5 or blur["motion"] > 0 else "no",
    }


def accuracy_by_condition(
    answers: list[str], truth: list[str], records: list[dict | None], reject_label: str
) -> dict[str, dict[str, dict]]:
    """Per condition and value: how many photos, and how the model did on them.

    Penguin photos report species accuracy and the share wrongly rejected; no-penguin photos
    report, per thing shown instead (empty scene, seal, person, another penguin species...),
    the share rejected. Photos without a record are left out.
    """
    tallies: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    rejected_tallies: dict[str, list[bool]] = defaultdict(list)
    for answer, expected, record in zip(answers, truth, records, strict=True):
        if record is None:
            continue
        if expected == reject_label:
            shown = record["content"] + (f" ({record['species']})" if record["species"] else "")
            rejected_tallies[shown].append(answer == reject_label)
            continue
        for condition, value in penguin_conditions(record).items():
            tallies[condition][value].append(
                "right" if answer == expected else "rejected" if answer == reject_label else "wrong"
            )
    report: dict[str, dict[str, dict]] = {}
    for condition, values in tallies.items():
        report[condition] = {
            value: {
                "images": len(outcomes),
                "species_accuracy": round(outcomes.count("right") / len(outcomes), 4),
                "wrongly_rejected": round(outcomes.count("rejected") / len(outcomes), 4),
            }
            for value, outcomes in sorted(values.items(), key=_natural_order)
        }
    if rejected_tallies:
        report["no-penguin photo shows"] = {
            shown: {"images": len(hits), "rejected": round(sum(hits) / len(hits), 4)}
            for shown, hits in sorted(rejected_tallies.items())
        }
    return report
