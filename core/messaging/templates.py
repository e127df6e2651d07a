"""Message templates: sandboxed Jinja2, per locale, validated on save, bounded at render.

Marketers write these, so a template must not reach Python objects nor hang a
worker.  Rendering uses :class:`jinja2.sandbox.ImmutableSandboxedEnvironment`
with ``StrictUndefined`` and a budget per render: loop iterations and calls
are counted (every ``for`` is wrapped at compile time), ``range`` is bounded,
string/list repetition and powers are capped, the output is cut at
:data:`MAX_OUTPUT` characters and the whole render at :data:`MAX_SECONDS`.

The context a template may use (documented for marketers, see
:data:`CONTEXT_DOC`): ``patient`` (``display_name``, ``given_name``,
``family_name``), ``appointment`` (``date``, ``time``, ``datetime``,
``weekday``, ``doctor``, ``department``, ``service``) formatted in the
patient's time zone and language, ``clinic`` (``timezone``), ``message``
(``channel``, ``purpose``, ``unsubscribe_url``) and ``ctx`` (values the
sender passed).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from babel.dates import format_date, format_datetime, format_time
from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer
from sqlalchemy import select

from core.errors import CareLoopError, ValidationError
from core.models.outbox import ANY_CHANNEL, MessageTemplate

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from core.models import Patient

MAX_OUTPUT = 16_000
MAX_ITERATIONS = 5_000
MAX_RANGE = 1_000
MAX_SECONDS = 0.5
MAX_SOURCE = 20_000

CONTEXT_DOC: dict[str, list[str]] = {
    "patient": ["display_name", "given_name", "family_name"],
    "appointment": ["date", "time", "datetime", "weekday", "doctor", "department", "service"],
    "clinic": ["timezone"],
    "message": ["channel", "purpose", "unsubscribe_url"],
    "ctx": ["<any value the sender passed>"],
}


class TemplateProblem(ValidationError):
    """A template does not compile, uses an unknown variable or breaks a limit."""


class TemplateNotFound(CareLoopError):
    """No active template has that key for the locale or the clinic's default."""


# ---------------------------------------------------------------------------
# The bounded sandbox
# ---------------------------------------------------------------------------


@dataclass
class _Budget:
    deadline: float
    steps: int = 0

    def spend(self, amount: int = 1) -> None:
        self.steps += amount
        if self.steps > MAX_ITERATIONS:
            raise SecurityError("template too complex (loop/call budget exhausted)")
        if time.monotonic() > self.deadline:
            raise SecurityError("template took too long to render")


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "careloop_template_budget", default=None
)


def _spend(amount: int = 1) -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.spend(amount)


def _guarded(iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        _spend()
        yield item


def _bounded_range(*args: int) -> range:
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise SecurityError(f"range is limited to {MAX_RANGE} items")
    return result


class _LoopGuard(NodeTransformer):
    """Wrap the iterable of every ``{% for %}`` in a call that spends the budget."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Call(nodes.Name("__careloop_guard", "load"), [node.iter], [], None, None)
        return node


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """An immutable sandbox whose loops, calls and operators are bounded."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, auto_reload=False)
        self.globals = {"range": _bounded_range, "__careloop_guard": _guarded}
        self.filters = {name: _guard_filter(fn) for name, fn in self.filters.items()}

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        return _LoopGuard().visit(super()._parse(source, name, filename))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and (abs(_num(right)) > 64 or abs(_num(left)) > 10**6):
            raise SecurityError("power too large")
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(count, int):
                    if len(seq) * count > MAX_OUTPUT:
                        raise SecurityError("repetition too large")
        return super().call_binop(context, operator, left, right)

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _spend()
        _check_args((*args, *kwargs.values()))
        return super().call(__context, __obj, *args, **kwargs)


def _check_args(args: Iterable[Any]) -> None:
    for value in args:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_OUTPUT:
            raise SecurityError("argument too large")


def _guard_filter(fn: Any) -> Any:
    """Wrap a filter so it spends the budget and refuses huge numeric arguments."""

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _spend()
        _check_args((*args[1:], *kwargs.values()))
        return fn(*args, **kwargs)

    return guarded


def _num(value: Any) -> float:
    return value if isinstance(value, int | float) else 0


_ENV = BoundedSandbox()


def _undeclared(source: str) -> set[str]:
    from jinja2 import meta

    return meta.find_undeclared_variables(_ENV.parse(source)) - set(_ENV.globals)


@functools.lru_cache(maxsize=1024)
def _compiled(source: str) -> Any:
    """Parse and compile once per distinct source (the send path renders the same few)."""
    return _ENV.from_string(source)


def render_string(source: str, context: dict[str, Any]) -> str:
    """Render *source* with the limits above; raise :class:`TemplateProblem` on any breach."""
    if len(source) > MAX_SOURCE:
        raise TemplateProblem(f"template longer than {MAX_SOURCE} characters", field="body")
    token = _BUDGET.set(_Budget(deadline=time.monotonic() + MAX_SECONDS))
    try:
        template = _compiled(source)
        out: list[str] = []
        size = 0
        for chunk in template.generate(**context):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateProblem(
                    f"rendered text longer than {MAX_OUTPUT} characters", field="body"
                )
            out.append(chunk)
        return "".join(out)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(
            f"syntax error line {exc.lineno}: {exc.message}", field="body"
        ) from None
    except UndefinedError as exc:
        raise TemplateProblem(f"undefined variable: {exc.message}", field="body") from None
    except (SecurityError, TemplateError, RecursionError, ArithmeticError, TypeError) as exc:
        raise TemplateProblem(f"template refused: {exc}", field="body") from None
    finally:
        _BUDGET.reset(token)


# ---------------------------------------------------------------------------
# Context
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PatientView:
    """The only patient fields a template can read."""

    display_name: str
    given_name: str
    family_name: str


@dataclass(frozen=True)
class AppointmentView:
    """An appointment as text in the patient's time zone and language."""

    date: str
    time: str
    datetime: str
    weekday: str
    doctor: str = ""
    department: str = ""
    service: str = ""


@dataclass(frozen=True)
class MessageView:
    channel: str
    purpose: str
    unsubscribe_url: str = ""


@dataclass(frozen=True)
class ClinicView:
    timezone: str


def _babel_locale(locale: str) -> str:
    return locale.replace("-", "_")


def appointment_view(
    start: dt.datetime,
    tz: dt.tzinfo,
    locale: str,
    *,
    doctor: str = "",
    department: str = "",
    service: str = "",
) -> AppointmentView:
    """Format an appointment's start for a patient."""
    local = start.astimezone(tz)
    loc = _babel_locale(locale)
    try:
        return AppointmentView(
            date=format_date(local.date(), "long", locale=loc),
            time=format_time(local.time(), "short", locale=loc),
            datetime=format_datetime(local, "medium", tzinfo=tz, locale=loc),
            weekday=format_date(local.date(), "EEEE", locale=loc),
            doctor=doctor,
            department=department,
            service=service,
        )
    except (ValueError, LookupError):
        return appointment_view(
            start, tz, "en", doctor=doctor, department=department, service=service
        )


@dataclass
class RenderContext:
    """Everything a template sees; built by :func:`build_context`."""

    patient: PatientView
    message: MessageView
    clinic: ClinicView
    appointment: AppointmentView | None = None
    ctx: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "patient": self.patient,
            "message": self.message,
            "clinic": self.clinic,
            "ctx": self.ctx,
        }
        if self.appointment is not None:
            values["appointment"] = self.appointment
        return values


def build_context(
    session: Session,
    patient: Patient,
    *,
    channel: str,
    purpose: str,
    locale: str,
    clinic_timezone: str,
    ctx: dict[str, Any] | None = None,
    unsubscribe_url: str = "",
) -> RenderContext:
    """The render context for *patient*; ``ctx["appointment_id"]`` adds the appointment."""
    from core.messaging.policy import zone
    from core.models import Appointment

    tz = zone(patient.time_zone, clinic_timezone)
    values = dict(ctx or {})
    appointment = None
    appointment_id = values.get("appointment_id")
    if appointment_id is not None:
        appt = session.get(Appointment, int(appointment_id))
        if appt is not None and appt.patient_id == patient.id:
            appointment = appointment_view(
                appt.scheduled_start,
                tz,
                locale,
                doctor=appt.doctor.display_name if appt.doctor else "",
                department=appt.department.name if appt.department else "",
                service=getattr(appt.service, "name", "") if appt.service else "",
            )
    return RenderContext(
        patient=PatientView(patient.display_name, patient.given_name, patient.family_name),
        message=MessageView(channel, purpose, unsubscribe_url),
        clinic=ClinicView(clinic_timezone),
        appointment=appointment,
        ctx=values,
    )


def sample_context() -> dict[str, Any]:
    """A context with every documented variable, for validating templates on save."""
    return RenderContext(
        patient=PatientView("Siti Rahma", "Siti", "Rahma"),
        message=MessageView("whatsapp", "care", "https://example.org/u/x"),
        clinic=ClinicView("Asia/Jakarta"),
        appointment=AppointmentView(
            "1 March 2027", "09:30", "1 Mar 2027, 09:30:00", "Monday", "Dr. A", "Dental", "Scaling"
        ),
        ctx=_AnyCtx(),
    ).as_dict()


class _AnyCtx(dict[str, Any]):
    """``ctx`` at validation time: any key exists (senders pass their own values)."""

    def __missing__(self, key: str) -> str:
        return f"<{key}>"

    def __contains__(self, key: object) -> bool:
        return True


# ---------------------------------------------------------------------------
# Validation and lookup
# ---------------------------------------------------------------------------


def validate_template(body: str, subject: str | None = None, params: Iterable[str] = ()) -> None:
    """Check syntax, variables and limits of a template; raise :class:`TemplateProblem`."""
    allowed = set(CONTEXT_DOC)
    for field_name, source in (
        ("body", body),
        ("subject", subject or ""),
        *(("provider_params", p) for p in params),
    ):
        try:
            unknown = _undeclared(source) - allowed
        except TemplateSyntaxError as exc:
            raise TemplateProblem(
                f"{field_name}: syntax error line {exc.lineno}: {exc.message}", field=field_name
            ) from None
        if unknown:
            names = ", ".join(sorted(unknown))
            raise TemplateProblem(
                f"{field_name}: unknown variable(s) {names}; use " + ", ".join(sorted(allowed)),
                field=field_name,
            )
        try:
            render_string(source, sample_context())
        except TemplateProblem as exc:
            raise TemplateProblem(f"{field_name}: {exc}", field=field_name) from None


def locale_candidates(locale: str | None, default_locale: str) -> list[str]:
    """``id-ID`` -> ``["id-ID", "id", <default>]`` without repeats."""
    out: list[str] = []
    for value in (locale, (locale or "").split("-")[0], default_locale):
        if value and value not in out:
            out.append(value)
    return out


def find_template(
    session: Session, key: str, channel: str, locale: str | None, default_locale: str
) -> MessageTemplate:
    """The active template for *key*: the channel's own first, then any channel;
    the wanted locale first, then its language, then the clinic's default."""
    rows = session.scalars(
        select(MessageTemplate).where(
            MessageTemplate.key == key,
            MessageTemplate.active.is_(True),
            MessageTemplate.channel.in_([channel, ANY_CHANNEL]),
        )
    ).all()
    by = {(row.channel, row.locale): row for row in rows}
    for loc in locale_candidates(locale, default_locale):
        for chan in (channel, ANY_CHANNEL):
            if (chan, loc) in by:
                return by[(chan, loc)]
    raise TemplateNotFound(f"no template {key!r} for {channel} in {locale or default_locale}")


@dataclass(frozen=True)
class TemplateSnapshot:
    """The parts of a :class:`MessageTemplate` needed to render it (safe to share)."""

    key: str
    channel: str
    locale: str
    body: str
    subject: str | None
    provider_template: str | None
    provider_params: tuple[str, ...]


#: seconds a worker reuses a template it read (edits reach every worker within this)
TEMPLATE_CACHE_SECONDS = 5.0
_template_cache: weakref.WeakKeyDictionary[Any, dict[tuple[str, ...], tuple[float, Any]]] = (
    weakref.WeakKeyDictionary()
)
_cache_lock = threading.Lock()


def cached_template(
    session: Session, key: str, channel: str, locale: str | None, default_locale: str
) -> TemplateSnapshot:
    """:func:`find_template` with a short per-engine cache (the send path reads it per message).

    :raises TemplateNotFound: also cached for the same few seconds.
    """
    engine = session.get_bind().engine
    cache_key = (key, channel, locale or "", default_locale)
    now = time.monotonic()
    with _cache_lock:
        entries = _template_cache.setdefault(engine, {})
        hit = entries.get(cache_key)
    if hit is not None and hit[0] > now:
        if isinstance(hit[1], TemplateNotFound):
            raise hit[1]
        return hit[1]
    value: Any
    try:
        row = find_template(session, key, channel, locale, default_locale)
        value = TemplateSnapshot(
            row.key,
            row.channel,
            row.locale,
            row.body,
            row.subject,
            row.provider_template,
            tuple(row.provider_params or ()),
        )
    except TemplateNotFound as exc:
        value = exc
    with _cache_lock:
        _template_cache.setdefault(engine, {})[cache_key] = (now + TEMPLATE_CACHE_SECONDS, value)
    if isinstance(value, TemplateNotFound):
        raise value
    return value


def clear_template_cache() -> None:
    """Forget cached templates (``save_template`` calls it for this process)."""
    with _cache_lock:
        _template_cache.clear()


def save_template(
    session: Session,
    *,
    key: str,
    locale: str,
    body: str,
    channel: str = ANY_CHANNEL,
    subject: str | None = None,
    provider_template: str | None = None,
    provider_params: list[str] | None = None,
    description: str | None = None,
) -> MessageTemplate:
    """Create or update a template after validating it."""
    validate_template(body, subject, provider_params or ())
    row = session.scalars(
        select(MessageTemplate).where(
            MessageTemplate.key == key,
            MessageTemplate.channel == channel,
            MessageTemplate.locale == locale,
        )
    ).first()
    if row is None:
        row = MessageTemplate(key=key, channel=channel, locale=locale, body=body)
        session.add(row)
    row.body = body
    row.subject = subject
    row.provider_template = provider_template
    row.provider_params = list(provider_params or [])
    row.description = description
    session.flush()
    clear_template_cache()
    return row


@dataclass(frozen=True)
class Rendered:
    """A rendered message, ready for :class:`core.messaging.channel.OutgoingMessage`."""

    body: str
    subject: str | None = None
    template_name: str | None = None
    template_language: str | None = None
    template_params: list[str] = field(default_factory=list)
    locale: str = "en"


def render_template(template: MessageTemplate, context: dict[str, Any], *, locale: str) -> Rendered:
    """Render a stored template's body, subject and provider parameters."""
    return Rendered(
        body=render_string(template.body, context),
        subject=render_string(template.subject, context) if template.subject else None,
        template_name=template.provider_template,
        template_language=template.locale.replace("-", "_") if template.provider_template else None,
        template_params=[render_string(p, context) for p in template.provider_params or []],
        locale=template.locale or locale,
    )
