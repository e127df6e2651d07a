"""Caller-ID screen pop: ``/admin/lookup?phone=...`` in any format."""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for
from flask_admin import expose

from admin.views.base import CareLoopView, Perm, can, db_session, get_runtime
from core.errors import InvalidPhoneNumber
from core.services.patients import find_by_phone


class LookupView(CareLoopView):
    """One match opens its 360° page; several are listed; none offers a new patient."""

    permission = Perm.LOOKUP

    @expose("/")
    def index(self) -> Any:
        raw = (request.args.get("phone") or "").strip()
        matches: list[Any] = []
        error = None
        if raw:
            runtime = get_runtime()
            try:
                matches = find_by_phone(db_session(), raw, runtime.config.default_region)
            except InvalidPhoneNumber:
                error = True
            if len(matches) == 1 and can(Perm.PATIENT_RECORD):
                return redirect(url_for("patient.record", patient_id=matches[0].id))
        return self.render(
            "careloop/lookup.html", phone=raw, matches=matches, invalid=error, searched=bool(raw)
        )
