"""A local stand-in for the iNaturalist API v1 and its photo server, for the fetcher's tests.

It answers `GET /v1/taxa` and `GET /v1/observations` in the shapes of the API's documentation
(`total_results`, `page`, `per_page`, `results`; observations with `user`, `taxon`, `uri`,
`place_guess` and `photos` whose `url` is the square size and whose `license_code` may differ
from photo to photo), applies the filters the fetcher sends (taxon and its descendants,
`without_taxon_id`, `quality_grade`, `photo_license`, a bounding box) and pages by `id_below`
like the real API. Photos are generated JPEGs at /photos/<id>/<size>.jpg. Faults (a 429, a
dropped connection, a licence filter the server ignores) are switched on by the tests.
"""

from __future__ import annotations

import io
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from PIL import Image

# name -> (taxon id, parent name); the parent chain gives each taxon its ancestor_ids.
TAXONOMY = {
    "Spheniscidae": (3800, None),
    "Pygoscelis adeliae": (3801, "Spheniscidae"),
    "Pygoscelis antarcticus": (3802, "Spheniscidae"),
    "Pygoscelis papua": (3803, "Spheniscidae"),
    "Aptenodytes patagonicus": (3804, "Spheniscidae"),
    "Phocidae": (4100, None),
    "Mirounga leonina": (4101, "Phocidae"),
    "Phoca vitulina": (4102, "Phocidae"),
    "Otariidae": (4200, None),
    "Arctocephalus gazella": (4201, "Otariidae"),
    "Stercorariidae": (4300, None),
    "Stercorarius antarcticus": (4301, "Stercorariidae"),
    "Procellariidae": (4400, None),
    "Macronectes giganteus": (4401, "Procellariidae"),
    "Diomedeidae": (4500, None),
    "Chionidae": (4600, None),
    "Chionis albus": (4601, "Chionidae"),
}
ANTARCTIC = (-64.8, -62.9)
NORTH_SEA = (54.1, 7.9)


def ancestor_ids(name: str) -> list[int]:
    chain = []
    while name is not None:
        taxon_id, parent = TAXONOMY[name]
        chain.insert(0, taxon_id)
        name = parent
    return chain


@dataclass
class Sighting:
    """One observation the stand-in holds."""

    id: int
    taxon: str
    observer_id: int
    licences: tuple[str | None, ...] = ("cc-by",)  # one per photo; None: all rights reserved
    quality_grade: str = "research"
    where: tuple[float, float] = ANTARCTIC
    broken_photo: bool = False

    @property
    def login(self) -> str:
        return f"observer{self.observer_id}"

    def photo_ids(self) -> list[int]:
        return [self.id * 10 + index for index in range(len(self.licences))]


@dataclass
class StandIn:
    """The data and the switches of one server; `requests` logs every request it answered."""

    sightings: list[Sighting]
    base_url: str = ""
    honour_licence_filter: bool = True
    throttle_next: int = 0  # answer this many observation queries with 429
    retry_after: str = "7"
    drop_photos_after: int | None = None  # then close every photo connection unanswered
    requests: list[tuple[str, dict[str, str], str]] = field(default_factory=list)
    photos_served: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def photo_requests(self) -> list[str]:
        return [path for path, _, _ in self.requests if path.startswith("/photos/")]

    def observation_queries(self) -> list[dict[str, str]]:
        return [query for path, query, _ in self.requests if path == "/v1/observations"]

    def taxa(self, query: dict[str, str]) -> dict:
        wanted = query.get("q", "")
        # Like the real search: near matches first (a hybrid), the exact name after them.
        found = [{"id": 99_000 + len(wanted), "name": f"{wanted} × Spheniscus", "rank": "hybrid"}]
        if wanted in TAXONOMY:
            found.append({"id": TAXONOMY[wanted][0], "name": wanted, "rank": "species",
                          "is_active": True, "ancestor_ids": ancestor_ids(wanted)})
        return _page(found, page=1, per_page=len(found) or 1, total=len(found))

    def observations(self, query: dict[str, str]) -> dict:
        matching = [s for s in self.sightings if self._matches(s, query)]
        matching.sort(key=lambda s: s.id, reverse=query.get("order") == "desc")
        if "id_below" in query:
            matching = [s for s in matching if s.id < int(query["id_below"])]
        if "id_above" in query:
            matching = [s for s in matching if s.id > int(query["id_above"])]
        per_page = min(int(query.get("per_page", 30)), 200)
        page = int(query.get("page", 1))
        shown = matching[(page - 1) * per_page: page * per_page]
        return _page([self._observation_json(s) for s in shown], page=page, per_page=per_page,
                     total=len(matching))

    def _matches(self, sighting: Sighting, query: dict[str, str]) -> bool:
        lineage = set(ancestor_ids(sighting.taxon))
        wanted = _ids(query.get("taxon_id"))
        if wanted and not lineage & wanted:
            return False
        if lineage & _ids(query.get("without_taxon_id")):
            return False
        if query.get("quality_grade", sighting.quality_grade) != sighting.quality_grade:
            return False
        licences = {code.lower() for code in query.get("photo_license", "").split(",") if code}
        if (licences and self.honour_licence_filter
                and not licences & {code for code in sighting.licences if code}):
            return False
        if "swlat" in query:
            lat, lng = sighting.where
            if not (float(query["swlat"]) <= lat <= float(query["nelat"])
                    and float(query["swlng"]) <= lng <= float(query["nelng"])):
                return False
        return True

    def _observation_json(self, sighting: Sighting) -> dict:
        photos = [
            {"id": photo_id, "license_code": code,
             "url": f"{self.base_url}/photos/{photo_id}/square.jpg?1545715684",
             "attribution": f"(c) {sighting.login}, some rights reserved ({code or 'none'})",
             "original_dimensions": {"width": 2048, "height": 1536}}
            for photo_id, code in zip(sighting.photo_ids(), sighting.licences, strict=True)
        ]
        lat, lng = sighting.where
        return {
            "id": sighting.id,
            "uuid": f"00000000-0000-0000-0000-{sighting.id:012d}",
            "quality_grade": sighting.quality_grade,
            "observed_on": "2024-01-15",
            "time_observed_at": "2024-01-15T10:20:00+00:00",
            "place_guess": "Paulet Island, Antarctica" if lat < 0 else "Helgoland, DE",
            "location": f"{lat},{lng}",
            "geojson": {"type": "Point", "coordinates": [lng, lat]},
            "uri": f"https://www.inaturalist.org/observations/{sighting.id}",
            "license_code": sighting.licences[0],
            "user": {"id": sighting.observer_id, "login": sighting.login,
                     "name": f"Observer {sighting.observer_id}"},
            "taxon": {"id": TAXONOMY[sighting.taxon][0], "name": sighting.taxon,
                      "rank": "species", "ancestor_ids": ancestor_ids(sighting.taxon)},
            "photos": photos,
            "observation_photos": [{"id": p["id"], "position": i, "photo": p}
                                   for i, p in enumerate(photos)],
        }

    def photo(self, photo_id: int) -> bytes:
        sighting = next(s for s in self.sightings if photo_id in s.photo_ids())
        shade = photo_id % 251
        image = Image.new("RGB", (96, 64), (shade, 255 - shade, (shade * 7) % 256))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        data = buffer.getvalue()
        return data[: len(data) // 2] if sighting.broken_photo else data


def _ids(text: str | None) -> set[int]:
    return {int(part) for part in (text or "").split(",") if part}


def _page(results: list, *, page: int, per_page: int, total: int) -> dict:
    return {"total_results": total, "page": page, "per_page": per_page, "results": results}


class _Handler(BaseHTTPRequestHandler):
    standin: StandIn  # set on a subclass per server

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        standin = self.standin
        with standin.lock:
            standin.requests.append((url.path, query, self.headers.get("User-Agent", "")))
            if url.path == "/v1/observations" and standin.throttle_next:
                standin.throttle_next -= 1
                return self._send(429, b'{"error": "Too Many Requests"}', "application/json",
                                  {"Retry-After": standin.retry_after})
            if url.path.startswith("/photos/"):
                if (standin.drop_photos_after is not None
                        and standin.photos_served >= standin.drop_photos_after):
                    self.close_connection = True  # no answer at all: a connection error
                    return
                standin.photos_served += 1
        if url.path == "/v1/taxa":
            return self._json(standin.taxa(query))
        if url.path == "/v1/observations":
            return self._json(standin.observations(query))
        if url.path.startswith("/photos/"):
            return self._send(200, standin.photo(int(url.path.split("/")[2])), "image/jpeg")
        return self._send(404, b'{"error": "Not Found"}', "application/json")

    def _json(self, body: dict) -> None:
        self._send(200, json.dumps(body).encode(), "application/json; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
        pass  # the tests read `StandIn.requests` instead


def serve(standin: StandIn) -> ThreadingHTTPServer:
    """Start the stand-in on a free local port, in a daemon thread."""
    handler = type("StandInHandler", (_Handler,), {"standin": standin})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    standin.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
