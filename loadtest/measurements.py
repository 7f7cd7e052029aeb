"""What the measurements load test sends and how it judges the answers (no Locust import).

Twelve real birds of the Palmer Penguins data (CC0), four per species, each sent with all its
features, or with the bill and flipper only (a researcher without a scale). A wrong species is
a failure, not a success: tests/loadtest checks that the shipped model names every one of them
right in both forms, so a failure under load means the service answered wrongly.
"""

from __future__ import annotations

import random
from typing import Any

from loadtest.checks import check_confidence

BILL_AND_FLIPPER = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm")
BIRDS: tuple[dict[str, Any], ...] = (
    {"species": "Adelie", "island": "Biscoe", "bill_length_mm": 37.9, "bill_depth_mm": 18.6,
     "flipper_length_mm": 193, "body_mass_g": 2925, "sex": "female", "year": 2009},
    {"species": "Adelie", "island": "Torgersen", "bill_length_mm": 39.6, "bill_depth_mm": 17.2,
     "flipper_length_mm": 196, "body_mass_g": 3550, "sex": "female", "year": 2008},
    {"species": "Adelie", "island": "Biscoe", "bill_length_mm": 37.6, "bill_depth_mm": 19.1,
     "flipper_length_mm": 194, "body_mass_g": 3750, "sex": "male", "year": 2008},
    {"species": "Adelie", "island": "Torgersen", "bill_length_mm": 42.9, "bill_depth_mm": 17.6,
     "flipper_length_mm": 196, "body_mass_g": 4700, "sex": "male", "year": 2008},
    {"species": "Chinstrap", "island": "Dream", "bill_length_mm": 46.8, "bill_depth_mm": 16.5,
     "flipper_length_mm": 189, "body_mass_g": 3650, "sex": "female", "year": 2009},
    {"species": "Chinstrap", "island": "Dream", "bill_length_mm": 49.7, "bill_depth_mm": 18.6,
     "flipper_length_mm": 195, "body_mass_g": 3600, "sex": "male", "year": 2008},
    {"species": "Chinstrap", "island": "Dream", "bill_length_mm": 51.5, "bill_depth_mm": 18.7,
     "flipper_length_mm": 187, "body_mass_g": 3250, "sex": "male", "year": 2009},
    {"species": "Chinstrap", "island": "Dream", "bill_length_mm": 51.3, "bill_depth_mm": 19.2,
     "flipper_length_mm": 193, "body_mass_g": 3650, "sex": "male", "year": 2007},
    {"species": "Gentoo", "island": "Biscoe", "bill_length_mm": 49.4, "bill_depth_mm": 15.8,
     "flipper_length_mm": 216, "body_mass_g": 4925, "sex": "male", "year": 2009},
    {"species": "Gentoo", "island": "Biscoe", "bill_length_mm": 45.0, "bill_depth_mm": 15.4,
     "flipper_length_mm": 220, "body_mass_g": 5050, "sex": "male", "year": 2008},
    {"species": "Gentoo", "island": "Biscoe", "bill_length_mm": 45.3, "bill_depth_mm": 13.8,
     "flipper_length_mm": 208, "body_mass_g": 4200, "sex": "female", "year": 2008},
    {"species": "Gentoo", "island": "Biscoe", "bill_length_mm": 50.4, "bill_depth_mm": 15.7,
     "flipper_length_mm": 222, "body_mass_g": 5750, "sex": "male", "year": 2009},
)


def request_for(bird: dict[str, Any], *, all_features: bool) -> dict[str, Any]:
    """The JSON body for a bird: every feature, or the bill and flipper only."""
    names = [key for key in bird if key != "species"] if all_features else BILL_AND_FLIPPER
    return {name: bird[name] for name in names}


def random_request(rng: random.Random) -> tuple[dict[str, Any], str]:
    """A body to send and the species it must be answered with."""
    bird = rng.choice(BIRDS)
    return request_for(bird, all_features=rng.random() < 0.5), bird["species"]


def check_measurement_answer(body: Any, expected: str) -> str | None:
    """Why a /predict/measurements answer is wrong, or None when it is right."""
    if not isinstance(body, dict):
        return f"expected a JSON object, got {type(body).__name__}"
    if body.get("species") != expected:
        return f"species {body.get('species')!r}, expected {expected}"
    return check_confidence(body.get("confidence"))
