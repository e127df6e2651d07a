"""Back-office views for messaging: the outbox and the message templates.

* **Outbox** — every outbound message, newest first, filterable by status,
  channel, purpose, patient, campaign and "needs reconciliation"; the reason
  of a suppression or failure is shown in words.  Actions: retry (failed,
  suppressed, cancelled) and cancel (still queued), each audited.  In console
  mode (the demo) this is where "delivered" messages appear.
* **Templates** — create and edit; a template is validated when saved
  (syntax, unknown variables, limits: see :mod:`core.messaging.templates`)
  and can be previewed on a real patient (audited, as it shows their data).
"""

# Flask-Admin is configured by class attributes (dicts and lists): RUF012 does not apply.
# ruff: noqa: RUF012

from __future__ import annotations

from typing import Any

from flask import flash, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from markupsafe import Markup
from sqlalchemy.orm import joinedload
from wtforms import SelectField, TextAreaField

from admin.views.base import (
    CareLoopModelView,
    Perm,
    can,
    current_actor,
    db_session,
    deny,
    get_runtime,
)
from admin.views.records import patient_link
from core.audit import record
from core.errors import CareLoopError
from core.i18n import gettext, lazy_gettext
from core.messaging import outbox
from core.messaging.policy import reason_label
from core.messaging.registry import channels_of
from core.messaging.templates import (
    CONTEXT_DOC,
    TemplateProblem,
    build_context,
    clear_template_cache,
    render_template,
    validate_template,
)
from core.models import MessageTemplate, OutboundMessage, Patient
from core.models.outbox import ANY_CHANNEL


def _reason(view: Any, context: Any, model: Any, name: str) -> str:
    return reason_label(model.status_reason)


def _status(view: Any, context: Any, model: Any, name: str) -> Markup:
    flag = Markup(' <span class="badge badge-warning">{}</span>').format(
        gettext("check with provider")
    )
    return Markup("{}{}").format(model.status, flag if model.needs_reconciliation else "")


class OutboxView(CareLoopModelView):
    """Every outbound message; retry or cancel from the list."""

    permission = Perm.MESSAGING
    can_create = can_edit = can_delete = False
    can_view_details = True
    column_display_actions = True
    column_list = (
        "created_at",
        "patient",
        "channel",
        "purpose",
        "status",
        "status_reason",
        "scheduled_at",
        "attempts",
        "campaign_id",
    )
    column_details_list = (
        "id",
        "patient",
        "channel",
        "channel_order",
        "purpose",
        "template_key",
        "locale",
        "status",
        "status_reason",
        "to_address",
        "rendered_subject",
        "rendered_body",
        "scheduled_at",
        "attempts",
        "provider_message_id",
        "idempotency_key",
        "campaign_id",
        "cause",
        "created_at",
        "sending_at",
        "sent_at",
        "delivered_at",
        "read_at",
        "failed_at",
        "suppressed_at",
        "bounced_at",
        "cancelled_at",
    )
    column_labels = {
        "created_at": lazy_gettext("Created"),
        "patient": lazy_gettext("Patient"),
        "channel": lazy_gettext("Channel"),
        "channel_order": lazy_gettext("Fallback order"),
        "purpose": lazy_gettext("Purpose"),
        "status": lazy_gettext("Status"),
        "status_reason": lazy_gettext("Reason"),
        "scheduled_at": lazy_gettext("Due"),
        "attempts": lazy_gettext("Attempts"),
        "campaign_id": lazy_gettext("Campaign"),
        "rendered_body": lazy_gettext("Text sent"),
        "rendered_subject": lazy_gettext("Subject sent"),
        "to_address": lazy_gettext("Address"),
        "needs_reconciliation": lazy_gettext("Needs reconciliation"),
        "patient_id": lazy_gettext("Patient id"),
    }
    column_default_sort = ("created_at", True)
    column_sortable_list = ("created_at", "scheduled_at", "status")
    column_filters = (
        "status",
        "channel",
        "purpose",
        "patient_id",
        "campaign_id",
        "needs_reconciliation",
        "template_key",
    )
    column_formatters = {"patient": patient_link, "status_reason": _reason, "status": _status}
    column_formatters_detail = column_formatters

    def get_query(self) -> Any:
        return super().get_query().options(joinedload(OutboundMessage.patient))

    def _act(self, ids: list[str], service: Any, done: str) -> None:
        ok, refused, risky = 0, 0, 0
        runtime = get_runtime()
        for message_id in ids:
            try:
                with runtime.transaction() as session:
                    service(session, int(message_id), current_actor())
                ok += 1
            except outbox.MayDuplicate:
                risky += 1
            except CareLoopError:
                refused += 1
        if ok:
            flash(done % {"count": ok}, "success")
        if risky:
            flash(
                gettext(
                    "%(count)d message(s) may already have been delivered (the provider's "
                    "answer was lost): check in the provider's console, then use "
                    "'Retry, delivery checked'",
                    count=risky,
                ),
                "warning",
            )
        if refused:
            flash(gettext("%(count)d message(s) could not be changed", count=refused), "warning")

    def _retry(self, ids: list[str], *, delivery_checked: bool) -> None:
        channels = channels_of(get_runtime())
        deduplicating = {name for name, ch in channels.items() if ch.provider_deduplicates}

        def retry(session: Any, message_id: int, actor: Any) -> Any:
            return outbox.retry_message(
                session,
                message_id,
                actor,
                deduplicating_channels=deduplicating,
                delivery_checked=delivery_checked,
            )

        self._act(ids, retry, gettext("%(count)d message(s) queued again"))

    @action(
        "retry",
        lazy_gettext("Retry"),
        lazy_gettext("Send the selected messages again (policy is checked again)?"),
    )
    def action_retry(self, ids: list[str]) -> None:
        self._retry(ids, delivery_checked=False)

    @action(
        "retry_checked",
        lazy_gettext("Retry, delivery checked"),
        lazy_gettext(
            "You checked with the provider that these messages were not delivered. Send them again?"
        ),
    )
    def action_retry_checked(self, ids: list[str]) -> None:
        self._retry(ids, delivery_checked=True)

    @action("cancel", lazy_gettext("Cancel"), lazy_gettext("Cancel the selected queued messages?"))
    def action_cancel(self, ids: list[str]) -> None:
        self._act(ids, outbox.cancel_message, gettext("%(count)d message(s) cancelled"))


def _preview_link(view: Any, context: Any, model: Any, name: str) -> Markup:
    href = url_for(".preview", id=model.id)
    return Markup('<a href="{}">{}</a>').format(href, gettext("Preview on a patient"))


CHANNEL_CHOICES = [
    (ANY_CHANNEL, lazy_gettext("Any channel")),
    ("whatsapp", "WhatsApp"),
    ("sms", "SMS"),
    ("email", lazy_gettext("E-mail")),
]


def _variables_help() -> str:
    names = ", ".join(
        f"{group}.{field}" for group, fields in CONTEXT_DOC.items() for field in fields
    )
    return gettext("Variables: %(names)s", names=names)


class MessageTemplateView(CareLoopModelView):
    """Message templates: validated on save, previewed on a real patient."""

    permission = Perm.MESSAGING
    can_create = can_edit = True
    column_display_actions = True
    column_list = (
        "key",
        "channel",
        "locale",
        "subject",
        "provider_template",
        "active",
        "updated_at",
    )
    column_labels = {
        "key": lazy_gettext("Key"),
        "channel": lazy_gettext("Channel"),
        "locale": lazy_gettext("Language"),
        "subject": lazy_gettext("Subject"),
        "body": lazy_gettext("Text"),
        "provider_template": lazy_gettext("Approved WhatsApp template"),
        "provider_params": lazy_gettext("Template parameters (one per line)"),
        "description": lazy_gettext("Description"),
        "active": lazy_gettext("Active"),
        "updated_at": lazy_gettext("Updated"),
        "preview": lazy_gettext("Preview"),
    }
    column_formatters = {"preview": _preview_link}
    column_filters = ("key", "channel", "locale", "active")
    column_searchable_list = ("key", "description")
    column_default_sort = ("key", False)
    form_columns = (
        "key",
        "channel",
        "locale",
        "subject",
        "body",
        "provider_template",
        "provider_params",
        "description",
        "active",
    )
    form_overrides = {
        "channel": SelectField,
        "body": TextAreaField,
        "provider_params": TextAreaField,
    }
    form_args = {"channel": {"choices": CHANNEL_CHOICES}}
    form_widget_args = {"body": {"rows": 8}, "provider_params": {"rows": 3}}

    def on_form_prefill(self, form: Any, id: Any) -> None:
        value = form.provider_params.data
        if isinstance(value, list):
            form.provider_params.data = "\n".join(str(v) for v in value)

    def create_form(self, obj: Any = None) -> Any:
        form = super().create_form(obj)
        form.body.description = _variables_help()
        return form

    def edit_form(self, obj: Any = None) -> Any:
        form = super().edit_form(obj)
        form.body.description = _variables_help()
        return form

    def validate_form(self, form: Any) -> bool:
        """WTForms checks, then the template checks (errors shown on the field)."""
        if not super().validate_form(form):
            return False
        if not hasattr(form, "body"):  # e.g. the delete form
            return True
        try:
            validate_template(
                form.body.data or "", form.subject.data or None, _params(form.provider_params.data)
            )
        except TemplateProblem as exc:
            target = getattr(form, exc.field or "body", form.body)
            target.errors = [*target.errors, str(exc)]
            return False
        return True

    def on_model_change(self, form: Any, model: MessageTemplate, is_created: bool) -> None:
        model.provider_params = _params(form.provider_params.data)
        session = db_session()
        session.flush()
        clear_template_cache()
        record(
            session,
            current_actor(),
            "template.create" if is_created else "template.update",
            "message_template",
            model.id,
            details={"key": model.key, "locale": model.locale, "channel": model.channel},
        )

    @expose("/preview/")
    def preview(self) -> Any:
        """Render a template on one patient (``?id=<template>&patient_id=<patient>``)."""
        if not can(Perm.PATIENT_LIST):
            return deny()
        runtime = get_runtime()
        template_id = request.args.get("id", type=int)
        patient_id = request.args.get("patient_id", type=int)
        rendered = error = None
        with runtime.transaction() as session:
            template = session.get(MessageTemplate, template_id) if template_id else None
            patient = session.get(Patient, patient_id) if patient_id else None
            if template is not None and patient is not None:
                locale = template.locale or runtime.config.default_locale
                context = build_context(
                    session,
                    patient,
                    channel=template.channel if template.channel != ANY_CHANNEL else "sms",
                    purpose="care",
                    locale=locale,
                    clinic_timezone=runtime.config.timezone,
                    ctx={k: v for k, v in request.args.items() if k.startswith("ctx_")},
                )
                try:
                    rendered = render_template(template, context.as_dict(), locale=locale)
                except TemplateProblem as exc:
                    error = str(exc)
                record(
                    session,
                    current_actor(),
                    "template.preview",
                    "message_template",
                    template.id,
                    patient_id=patient.id,
                )
            return self.render(
                "careloop/message_preview.html",
                message_template=template,
                patient=patient,
                rendered=rendered,
                error=error,
                return_url=url_for(".index_view"),
            )


def _params(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [line.strip() for line in str(value or "").splitlines() if line.strip()]


def register(admin: Any, db: Any) -> None:
    """Add the outbox and template views to the back office (called by the app factory)."""
    admin.add_view(OutboxView(OutboundMessage, db, name=gettext("Outbox"), endpoint="outbox"))
    admin.add_view(
        MessageTemplateView(
            MessageTemplate, db, name=gettext("Message templates"), endpoint="message_templates"
        )
    )


__all__ = ["MessageTemplateView", "OutboxView", "register"]
