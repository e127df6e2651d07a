"""A fake SMSAPI: ``POST /sms.do`` (form-encoded, ``format=json``)."""

from __future__ import annotations

import itertools
import time
from typing import Any

from .base import FakeProvider, Request, Response, bearer_token

#: SMSAPI error codes the fake uses
ERROR_NO_VALID_NUMBERS = 13
ERROR_DUPLICATE_IDX = 53
ERROR_AUTHORIZATION = 101


def smsapi_error(code: int, message: str, **extra: Any) -> Response:
    """SMSAPI reports business errors as HTTP 200 with an ``error`` code."""
    return Response(200, {"error": code, "message": message, **extra})


class FakeSmsApi(FakeProvider):
    """Accepts SMS; with ``check_idx=1`` refuses an ``idx`` it already accepted (error 53).

    ``invalid_numbers`` are refused with error 13 and an ``invalid_numbers`` list.
    ``accepted`` holds each accepted form plus its ``id``.
    """

    name = "smsapi"

    def __init__(self, *, token: str = "test-smsapi-token", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.token = token
        self.invalid_numbers: set[str] = set()
        self.seen_idx: set[str] = set()
        self._ids = itertools.count(1)

    def reset_state(self) -> None:
        self.seen_idx.clear()
        self.invalid_numbers.clear()

    def our_id(self, item: dict[str, Any]) -> str | None:
        # CareLoop's idx is "<row id>k<key digest>"
        return (item.get("idx") or "").split("k", 1)[0] or None

    def error_body(self, status: int, message: str) -> Any:
        return {"error": 201 if status >= 500 else 8, "message": message}

    def handle(self, request: Request) -> Response:
        if request.path != "/sms.do":
            return Response(404, {"error": 404, "message": "Not found"})
        if bearer_token(request) != self.token:
            return Response(401, {"error": ERROR_AUTHORIZATION, "message": "Authorization failed"})
        form = request.form()
        to = form.get("to", "")
        if not form.get("message"):
            return smsapi_error(11, "Message is empty")
        digits = to.lstrip("+")
        if not digits.isdigit() or digits in self.invalid_numbers:
            return smsapi_error(
                ERROR_NO_VALID_NUMBERS,
                "No correct phone numbers",
                invalid_numbers=[
                    {"number": to, "submitted_number": to, "message": "Invalid phone number"}
                ],
            )
        idx = form.get("idx")
        with self._lock:
            if idx and form.get("check_idx") == "1" and idx in self.seen_idx:
                return smsapi_error(ERROR_DUPLICATE_IDX, "Not unique idx")
            if idx:
                self.seen_idx.add(idx)
        msg_id = f"{next(self._ids):024X}"
        self.record_accepted({**form, "id": msg_id})
        return Response(
            200,
            {
                "count": 1,
                "list": [
                    {
                        "id": msg_id,
                        "points": 0.16,
                        "number": digits,
                        "date_sent": int(time.time()),
                        "submitted_number": to,
                        "status": "QUEUE",
                        "error": None,
                        "idx": idx,
                    }
                ],
            },
        )
