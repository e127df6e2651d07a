"""A fake WhatsApp Cloud API: ``POST /{version}/{phone_number_id}/messages``."""

from __future__ import annotations

import itertools
import re
from typing import Any

from .base import FakeProvider, Request, Response, bearer_token

_PATH = re.compile(r"^/v[0-9.]+/(?P<phone_id>[^/]+)/messages$")


def graph_error(code: int, message: str, status: int = 400) -> Response:
    """A Graph API error document, as the Cloud API answers it."""
    return Response(
        status,
        {
            "error": {
                "message": f"(#{code}) {message}",
                "type": "OAuthException",
                "code": code,
                "fbtrace_id": "AbCdEf0123",
            }
        },
    )


class FakeWhatsApp(FakeProvider):
    """Accepts text and template messages; knows a set of approved templates.

    ``invalid_numbers`` are refused with error 131026 (undeliverable);
    templates not in ``templates`` with 132001 (template does not exist).
    ``accepted`` holds each accepted message body plus its ``wamid``.
    """

    name = "whatsapp"

    def __init__(
        self,
        *,
        token: str = "test-wa-token",
        phone_number_id: str = "1122334455667",
        templates: set[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.token = token
        self.phone_number_id = phone_number_id
        self.templates = set(templates or {"appointment_reminder", "hello_world"})
        self.invalid_numbers: set[str] = set()
        self._ids = itertools.count(1)

    def reset_state(self) -> None:
        self.invalid_numbers.clear()

    def our_id(self, item: dict[str, Any]) -> str | None:
        return item.get("biz_opaque_callback_data")

    def error_body(self, status: int, message: str) -> Any:
        code = 130429 if status == 429 else 131000 if status >= 500 else 100
        return graph_error(code, message, status).body

    def handle(self, request: Request) -> Response:
        match = _PATH.match(request.path)
        if request.method != "POST" or match is None:
            return graph_error(100, "Unsupported request", 404)
        if bearer_token(request) != self.token:
            return graph_error(190, "Invalid OAuth access token", 401)
        if match["phone_id"] != self.phone_number_id:
            return graph_error(100, "Unknown phone number id", 400)
        body = request.json()
        to = str(body.get("to") or "")
        if body.get("messaging_product") != "whatsapp" or not to.lstrip("+").isdigit():
            return graph_error(100, "Invalid parameter", 400)
        if to.lstrip("+") in self.invalid_numbers:
            return graph_error(131026, "Message undeliverable", 400)
        kind = body.get("type", "text")
        if kind == "template":
            name = (body.get("template") or {}).get("name")
            if name not in self.templates:
                return graph_error(132001, "Template name does not exist in the translation", 404)
        elif kind == "text":
            if not (body.get("text") or {}).get("body"):
                return graph_error(100, "Param text['body'] is required", 400)
        else:
            return graph_error(100, f"Unsupported message type {kind}", 400)
        wamid = f"wamid.FAKE{next(self._ids):012d}"
        self.record_accepted({**body, "wamid": wamid})
        return Response(
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to.lstrip("+")}],
                "messages": [{"id": wamid}],
            },
        )
