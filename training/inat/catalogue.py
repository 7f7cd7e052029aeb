"""What each class folder is made of, by scientific name, as iNaturalist's taxonomy spells it.

Negatives (`no_penguin`) come in two kinds: other penguins, the hardest mistakes the model can
make, and the animals a photographer meets in the same places (seals, skuas, petrels,
sheathbills), limited to the Southern Ocean by a bounding box. iNaturalist has no empty
scenes, so the folder holds none.
"""

from __future__ import annotations

from dataclasses import dataclass

from training.render.dataset import split_counts

SPECIES = {
    "Adelie": "Pygoscelis adeliae",
    "Chinstrap": "Pygoscelis antarcticus",
    "Gentoo": "Pygoscelis papua",
}
NEGATIVE_LABEL = "no_penguin"
CLASSES = (*SPECIES, NEGATIVE_LABEL)

# South of 45 degrees S: Antarctica, the Peninsula, South Georgia, the Falklands, the sub-Antarctic
# islands; not the seals of European harbours.
SOUTHERN_OCEAN = (("swlat", -90.0), ("swlng", -180.0), ("nelat", -45.0), ("nelng", 180.0))


@dataclass(frozen=True)
class Source:
    """One query that feeds a class folder: which taxa, minus which, where, and what share of the
    folder it fills."""

    name: str
    label: str
    taxa: tuple[str, ...]
    without: tuple[str, ...] = ()
    bounding_box: tuple[tuple[str, float], ...] = ()  # the API's swlat/swlng/nelat/nelng
    share: float = 1.0


SOURCES = (
    *(Source(label.lower(), label, (name,)) for label, name in SPECIES.items()),
    Source("other penguins", NEGATIVE_LABEL, ("Spheniscidae",),
           without=tuple(SPECIES.values()), share=0.4),
    Source("seals", NEGATIVE_LABEL, ("Phocidae", "Otariidae"),
           bounding_box=SOUTHERN_OCEAN, share=0.2),
    Source("skuas", NEGATIVE_LABEL, ("Stercorariidae",), bounding_box=SOUTHERN_OCEAN, share=0.15),
    Source("petrels and albatrosses", NEGATIVE_LABEL, ("Procellariidae", "Diomedeidae"),
           bounding_box=SOUTHERN_OCEAN, share=0.15),
    Source("sheathbills", NEGATIVE_LABEL, ("Chionidae",), bounding_box=SOUTHERN_OCEAN, share=0.1),
)


def quotas(per_class: int, sources: tuple[Source, ...] = SOURCES) -> dict[Source, int]:
    """Photos wanted from each source: `per_class` for every label, shared among its sources so
    that the counts add up exactly."""
    result: dict[Source, int] = {}
    for label in dict.fromkeys(source.label for source in sources):
        members = [source for source in sources if source.label == label]
        total_share = sum(source.share for source in members)
        counts = split_counts(per_class, tuple(s.share / total_share for s in members))
        result.update(zip(members, counts, strict=True))
    return result


def scientific_names(sources: tuple[Source, ...] = SOURCES) -> list[str]:
    """Every name the sources mention, once each, in order."""
    names = (name for source in sources for name in (*source.taxa, *source.without))
    return list(dict.fromkeys(names))
