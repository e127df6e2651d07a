"""A fake SendGrid v3 API: ``POST /v3/mail/send``."""

from __future__ import annotations

import itertools
from typing import Any

from .base import FakeProvider, Request, Response, bearer_token


def sendgrid_error(status: int, message: str, field: str | None = None) -> Response:
    """SendGrid's error document."""
    return Response(status, {"errors": [{"message": message, "field": field, "help": None}]})


class FakeSendGrid(FakeProvider):
    """Accepts mail for valid addresses and answers 202 with ``X-Message-Id``.

    ``invalid_addresses`` are refused with 400 like a malformed address.
    ``accepted`` holds each accepted request body plus its ``x_message_id``.
    """

    name = "sendgrid"

    def __init__(self, *, api_key: str = "SG.test-key", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_key = api_key
        self.invalid_addresses: set[str] = set()
        self._ids = itertools.count(1)

    def reset_state(self) -> None:
        self.invalid_addresses.clear()

    def our_id(self, item: dict[str, Any]) -> str | None:
        return (item.get("custom_args") or {}).get("careloop_message_id")

    def error_body(self, status: int, message: str) -> Any:
        return sendgrid_error(status, message).body

    def handle(self, request: Request) -> Response:
        if request.method != "POST" or request.path != "/v3/mail/send":
            return sendgrid_error(404, "Not found")
        if bearer_token(request) != self.api_key:
            return sendgrid_error(
                401, "The provided authorization grant is invalid, expired, or revoked"
            )
        body = request.json()
        try:
            to = body["personalizations"][0]["to"][0]["email"]
            body["from"]["email"]
        except (KeyError, IndexError, TypeError):
            return sendgrid_error(400, "Bad request", "personalizations")
        if "@" not in to or to in self.invalid_addresses:
            return sendgrid_error(
                400, "Does not contain a valid address.", "personalizations.0.to.0.email"
            )
        message_id = f"FAKE{next(self._ids):018d}"
        self.record_accepted({**body, "x_message_id": message_id})
        return Response(202, b"", headers={"X-Message-Id": message_id})
