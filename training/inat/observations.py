"""The parts of an API v1 observation the fetcher uses, read once from its JSON.

Shapes as the API documents them for `GET /v1/observations`: `user` {id, login}, `taxon`
{name}, `uri`, `observed_on`, `place_guess`, and `photos`, each with its own `license_code`
(null: all rights reserved) and a `url` in the square size.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

# The photo licences the API knows (its `photo_license` parameter), in the API's spelling.
LICENCES = ("cc0", "cc-by", "cc-by-nc", "cc-by-sa", "cc-by-nd", "cc-by-nc-sa", "cc-by-nc-nd")
PHOTO_SIZES = ("square", "thumb", "small", "medium", "large", "original")


@dataclass(frozen=True)
class Photo:
    id: int
    url: str
    licence: str | None
    attribution: str

    def sized(self, size: str) -> str:
        """The URL of another size: iNaturalist names the size in the file name
        (.../photos/123/square.jpg is .../photos/123/medium.jpg at 500 px)."""
        for known in PHOTO_SIZES:
            if f"/{known}." in self.url:
                return self.url.replace(f"/{known}.", f"/{size}.", 1)
        return self.url

    @property
    def extension(self) -> str:
        return "." + urlsplit(self.url).path.rsplit(".", 1)[-1].lower()


@dataclass(frozen=True)
class Observation:
    id: int
    uri: str
    observer_id: int  # stable; the login can be changed by its owner
    observer_login: str
    taxon_name: str
    observed_on: str
    place: str
    photos: tuple[Photo, ...]

    @classmethod
    def from_json(cls, data: dict) -> Observation:
        user, taxon = data.get("user") or {}, data.get("taxon") or {}
        return cls(
            id=int(data["id"]),
            uri=data.get("uri") or f"https://www.inaturalist.org/observations/{data['id']}",
            observer_id=int(user["id"]),
            observer_login=user.get("login") or "",
            taxon_name=taxon.get("name") or "",
            observed_on=(data.get("observed_on") or "")[:10],
            place=data.get("place_guess") or "",
            photos=tuple(
                Photo(int(photo["id"]), photo["url"], (photo.get("license_code") or "").lower()
                      or None, photo.get("attribution") or "")
                for photo in data.get("photos") or ()
            ),
        )
