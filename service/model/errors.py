"""The one exception for a request, or one photo of it, that cannot be served.

Raised by every layer (preprocessing refuses a photo it cannot decode, the engine a full queue,
the HTTP side a malformed form) and rendered by `service.http.errors` in the product's one error
shape. It lives at the bottom of the layers so that none of them has to convert another's
exception into its own.
"""

from __future__ import annotations


class ApiError(Exception):
    """A failure to report to the client, with its HTTP status and machine-readable code."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
