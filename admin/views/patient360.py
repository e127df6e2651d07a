"""The patient 360° page and the agent actions on it.

One page shows the profile, contact points, consent (current and history),
appointments, the timeline (newest first, paginated with ``before``) and the
panels enabled plugins add.  Each view writes an audit event; each action
goes through a core service (which audits the change and fires hooks after
commit).  Every form carries a CSRF token.

The page is read often (every caller-ID pop), so it is kept cheap: the record,
its lists and the timeline's first page come from one ``UNION ALL`` built once
and run on the driver's cursor (a later timeline page: the record and lists,
then ``patient_timeline``'s own statement); the view's audit event is written in
the same transaction and committed before rendering; the action forms, which
render the same for every patient, are rendered once per language (the booking
form once per directory refresh) and get the request's one CSRF token; the
page's URLs are built once per script root; times go through one formatter per
page; the template asks the role matrix once (``may``), its fixed labels go
through a per-language memo of ``_``, and its body is one macro (one string
through the layout's blocks).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from flask import (
    abort,
    flash,
    get_template_attribute,
    redirect,
    request,
    url_for,
)
from flask_admin import expose
from flask_admin.form import SecureForm
from markupsafe import Markup
from sqlalchemy import (
    String,
    bindparam,
    cast,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from admin.forms import (
    CHANNEL_LABELS,
    BookAppointmentForm,
    ChannelPreferenceForm,
    ConsentForm,
    ContactPointForm,
    FeedbackForm,
    LogCallForm,
    MergeForm,
    NewPatientForm,
    PatientProfileForm,
)
from admin.i18n import request_datetime_formatter
from admin.roles import allowed
from admin.views.base import (
    CareLoopView,
    Perm,
    can,
    csrf_token,
    current_actor,
    current_role,
    db_session,
    get_runtime,
)
from core.audit import record_page_view
from core.driver_query import DriverQuery
from core.errors import CareLoopError, PatientNotFound, ValidationError
from core.i18n import current_locale, translations
from core.i18n import gettext as _
from core.models import (
    Appointment,
    Condition,
    ConsentEvent,
    ContactPoint,
    Department,
    Doctor,
    Patient,
    Service,
    Tag,
)
from core.models.patient import patient_conditions, patient_tags
from core.panels import PatientPanel
from core.services import appointments, consent, interactions, patients
from core.services.timeline import (
    CoreRow,
    TimelineCursor,
    first_page_branches,
    patient_timeline,
)

TIMELINE_PAGE = 25
APPOINTMENTS_SHOWN = 20
CONSENT_HISTORY_SHOWN = 50

# The page reads with Core statements of table columns, built once: building a
# statement, and loading ORM entities, cost SQLAlchemy more than running the query.


def _page_lists(with_timeline: bool) -> Any:
    """One ``UNION ALL`` of the record (the fields the page shows, and ``merged_into_id``)
    and its lists: contact points, tags, conditions, consent events and the latest
    appointments (one round trip instead of six); *with_timeline*, also the timeline's
    first page (its core rows: ``list`` is ``interaction``, ``appointment``, ``consent``).

    Shared columns: ``list`` (which one), ``id``, ``at``, ``a`` to ``e``, ``flag``, ``f``
    (the record's, or a timeline entry's body), and for the record only ``g`` to ``j``,
    ``n`` and ``day``; :meth:`_Lists.read` names them again.  The record's branch comes
    first: it names and types the columns, the others give a plain ``NULL`` where they
    have nothing (short SQL: psycopg converts a statement over 4 kB on every run).
    """
    # short aliases, short SQL
    patients, doctors = Patient.__table__.alias("p"), Doctor.__table__.alias("d")
    visits_table = Appointment.__table__.alias("v")
    contacts = ContactPoint.__table__.alias("cp").c
    tags = Tag.__table__.alias("t").c
    tagged_table = patient_tags.alias("pt")
    tagged = tagged_table.c
    conditions = Condition.__table__.alias("c").c
    diagnosed_table = patient_conditions.alias("pc")
    diagnosed = diagnosed_table.c
    consent_events = ConsentEvent.__table__.alias("ce").c
    visits = visits_table.c
    visit_doctors = Doctor.__table__.alias("vd")
    departments, services = Department.__table__.alias("vp"), Service.__table__.alias("vs")
    patient = bindparam("patient_id")
    nothing = literal_column("NULL")

    def kind(name: str) -> Any:
        return literal_column(f"'{name}'", String)

    def nothing_but(*columns: Any, upto: int = 16) -> tuple[Any, ...]:
        """*columns*, then ``NULL`` up to the union's sixteen columns."""
        return (*columns, *(nothing for _ in range(upto - len(columns))))

    record = (
        select(
            kind("record").label("list"),
            patients.c.id,
            cast(null(), consent_events.occurred_at.type).label("at"),
            patients.c.display_name.label("a"),
            patients.c.mrn.label("b"),
            patients.c.sex.label("c"),
            patients.c.preferred_language.label("d"),
            patients.c.preferred_channels.label("e"),
            patients.c.is_lead.label("flag"),
            patients.c.lead_source.label("f"),
            patients.c.address_line.label("g"),
            patients.c.city.label("h"),
            patients.c.province.label("i"),
            doctors.c.display_name.label("j"),
            patients.c.merged_into_id.label("n"),
            patients.c.birth_date.label("day"),
        )
        .select_from(patients)
        .outerjoin(doctors, doctors.c.id == patients.c.primary_doctor_id)
        .where(patients.c.id == patient)
    )
    latest_visits = (
        select(
            visits.id,
            visits.scheduled_start,
            visits.status,
            visit_doctors.c.display_name.label("doctor"),
            departments.c.name.label("department"),
            services.c.name.label("service"),
        )
        .select_from(visits_table)
        .outerjoin(visit_doctors, visit_doctors.c.id == visits.doctor_id)
        .outerjoin(departments, departments.c.id == visits.department_id)
        .outerjoin(services, services.c.id == visits.service_id)
        .where(visits.patient_id == patient)
        .order_by(visits.scheduled_start.desc(), visits.id.desc())
        .limit(APPOINTMENTS_SHOWN)
        .subquery()
    ).c
    branches = [
        record,
        select(
            *nothing_but(
                kind("contact"),
                contacts.id,
                nothing,
                contacts.kind,
                contacts.value,
                contacts.label,
                nothing,
                nothing,
                contacts.is_primary,
            )
        ).where(contacts.patient_id == patient),
        select(*nothing_but(kind("tag"), tags.id, nothing, tags.name))
        .join(tagged_table, tagged.tag_id == tags.id)
        .where(tagged.patient_id == patient),
        select(
            *nothing_but(
                kind("condition"), conditions.id, nothing, conditions.code, conditions.label
            )
        )
        .join(diagnosed_table, diagnosed.condition_id == conditions.id)
        .where(diagnosed.patient_id == patient),
        select(
            *nothing_but(
                kind("consent event"),
                consent_events.id,
                consent_events.occurred_at,
                consent_events.channel,
                consent_events.purpose,
                consent_events.status,
                consent_events.method,
                consent_events.evidence,
            )
        ).where(consent_events.patient_id == patient),
        select(
            *nothing_but(
                kind("visit"),
                latest_visits.id,
                latest_visits.scheduled_start,
                latest_visits.status,
                latest_visits.doctor,
                latest_visits.department,
                latest_visits.service,
            )
        ),
    ]
    if with_timeline:
        for branch in first_page_branches(TIMELINE_PAGE):
            entries = branch.c
            branches.append(
                select(
                    *nothing_but(
                        entries.ref_kind,
                        entries.id,
                        entries.at,
                        entries.kind,
                        entries.subject,
                        entries.channel,
                        entries.direction,
                        entries.purpose,
                        nothing,
                        entries.body,
                    )
                )
            )
    return union_all(*branches)


# run on the driver's cursor (SQLAlchemy's per-execution work costs as much as the query)
#: the record and its lists (a later timeline page is read by patient_timeline)
_PAGE_LISTS = DriverQuery(_page_lists(with_timeline=False), "patient_id")
#: the same and the timeline's first page (of ``TIMELINE_PAGE`` entries)
_PAGE_WITH_TIMELINE = DriverQuery(_page_lists(with_timeline=True), "patient_id")


class _Record(NamedTuple):
    """The record's fields the page shows (and ``merged_into_id``)."""

    id: int
    display_name: str
    mrn: str | None
    birth_date: dt.date | None
    sex: str | None
    preferred_language: str | None
    is_lead: bool
    preferred_channels: str | None
    lead_source: str | None
    address_line: str | None
    city: str | None
    province: str | None
    merged_into_id: int | None
    #: the primary doctor's name
    primary_doctor: str | None


class _Contact(NamedTuple):
    id: int
    kind: str
    value: str
    label: str | None
    is_primary: bool


class _Condition(NamedTuple):
    code: str
    label: str


class _ConsentEvent(NamedTuple):
    id: int
    occurred_at: dt.datetime
    channel: str
    purpose: str
    status: str
    method: str
    evidence: str | None


class _Appointment(NamedTuple):
    id: int
    scheduled_start: dt.datetime
    status: str
    doctor: str | None
    department: str | None
    service: str | None


#: the ``list`` of the timeline's rows in the page's ``UNION ALL``
_TIMELINE_KINDS = frozenset({"interaction", "appointment", "consent"})


def _newest_first(row: Any) -> tuple[dt.datetime, int]:
    return (row[1], row[0])


@dataclass
class _Lists:
    """The record (``None``: no such patient) and its lists, each in the order the page
    shows it."""

    record: _Record | None = None
    contacts: list[_Contact] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    conditions: list[_Condition] = field(default_factory=list)
    #: every consent event, newest first
    consent: list[_ConsentEvent] = field(default_factory=list)
    #: the latest ``APPOINTMENTS_SHOWN`` appointments, newest first
    appointments: list[_Appointment] = field(default_factory=list)
    #: the timeline's first page's core rows (when asked for), for ``patient_timeline``
    timeline: list[CoreRow] | None = None

    @classmethod
    def read(cls, session: Session, patient_id: int, with_timeline: bool = False) -> _Lists:
        """The record and its lists; *with_timeline*, the timeline's first page too."""
        found = cls()
        if not with_timeline:
            rows = _PAGE_LISTS.rows(session, patient_id=patient_id)
        else:
            found.timeline = timeline = []
            rows = _PAGE_WITH_TIMELINE.rows(session, patient_id=patient_id)
        # columns: list, id, at, a, b, c, d, e, flag, f, g, h, i, j, n, day
        for which, id_, at, a, b, c, d, e, flag, f, g, h, i, j, n, day in rows:
            if which in _TIMELINE_KINDS:
                timeline.append(CoreRow(which, id_, at, a, b, f, c, d, e))
            elif which == "record":
                found.record = _Record(id_, a, b, day, c, d, bool(flag), e, f, g, h, i, n, j)
            elif which == "contact":
                found.contacts.append(_Contact(id_, a, b, c, bool(flag)))
            elif which == "tag":
                found.tags.append(a)
            elif which == "condition":
                found.conditions.append(_Condition(a, b))
            elif which == "consent event":
                found.consent.append(_ConsentEvent(id_, at, a, b, c, d, e))
            else:
                found.appointments.append(_Appointment(id_, at, a, b, c, d))
        found.contacts.sort()  # by id, as the relationship orders them
        found.tags.sort()
        found.conditions.sort()
        found.consent.sort(key=_newest_first, reverse=True)
        found.appointments.sort(key=_newest_first, reverse=True)
        return found


def _parse_before(raw: str | None) -> str | None:
    """The timeline cursor of the page asked for (opaque; checked here, 400 if forged)."""
    if not raw:
        return None
    try:
        TimelineCursor.parse(raw)
    except ValidationError:
        abort(400)
    return raw


#: seconds the booking form's doctors, departments and services are reused per process
DIRECTORY_TTL = 30.0


def _choices(session: Session, model: Any, label: Any) -> list[tuple[str, str]]:
    rows = session.execute(
        select(model.id, label).where(model.active.is_(True)).order_by(label).limit(500)
    )
    return [("", "—")] + [(str(i), str(name)) for i, name in rows]


@dataclass(frozen=True)
class _Directory:
    """The clinic directory behind the booking form's drop-downs, read at ``at``.

    Replaced as a whole when stale; its choices are never changed in place (threads
    share it), only its rendered HTML is added to.
    """

    at: float
    doctors: list[tuple[str, str]]
    departments: list[tuple[str, str]]
    services: list[tuple[str, str]]
    #: locale -> (its catalogue, the booking form's fields rendered with these choices)
    html: dict[str, tuple[Any, Markup]] = field(default_factory=dict)

    @classmethod
    def read(cls, session: Session) -> _Directory:
        return cls(
            at=time.monotonic(),
            doctors=_choices(session, Doctor, Doctor.display_name),
            departments=_choices(session, Department, Department.name),
            services=_choices(session, Service, Service.name),
        )

    @property
    def stale(self) -> bool:
        return time.monotonic() - self.at >= DIRECTORY_TTL

    def booking_form(self, formdata: Any = None) -> BookAppointmentForm:
        form = BookAppointmentForm(formdata)
        form.doctor_id.choices = self.doctors
        form.department_id.choices = self.departments
        form.service_id.choices = self.services
        return form

    def booking_fields(self) -> Markup:
        """The fields of an unsubmitted booking form, rendered once per language."""
        locale = current_locale()
        catalogue = translations(locale)
        done = self.html.get(locale)
        if done is None or done[0] is not catalogue:  # a reloaded catalogue renders again
            done = self.html[locale] = (catalogue, _render_fields(self.booking_form()))
        return done[1]


#: locale -> (its catalogue, the page's pieces rendered in it: forms' fields, labels)
_RENDERED: dict[str, tuple[Any, dict[Any, Markup]]] = {}
#: pieces kept per language (the channel orders' forms and the labels stay far below)
_RENDERED_MAX = 2000


def _rendered() -> dict[Any, Markup]:
    """The current language's cache of the page's unchanging pieces.

    It starts afresh when the catalogue is reloaded (``careloop i18n compile``).
    """
    locale = current_locale()
    catalogue = translations(locale)
    entry = _RENDERED.get(locale)
    if entry is None or entry[0] is not catalogue:
        entry = _RENDERED[locale] = (catalogue, {})
    if len(entry[1]) >= _RENDERED_MAX:
        entry[1].clear()
    return entry[1]


def _macro(name: str) -> Any:
    return get_template_attribute("careloop/macros.html", name)


def _render_fields(form: Any) -> Markup:
    """A form's fields (not its CSRF token) as ``careloop/macros.html`` writes them.

    A macro of the autoescaping environment returns :class:`Markup`, every value in it escaped.
    """
    html = _macro("form_fields")(form)
    assert isinstance(html, Markup)
    return html


def _fields(
    rendered: dict[Any, Markup], name: str, variant: Any, render: Callable[[], Markup]
) -> Markup:
    """The fields of an unsubmitted form, rendered once per language (and *variant*).

    Rendering a WTForms form costs more than the rest of the page; a form nobody
    submitted renders the same every time (labels and choices in the viewer's
    language).  The CSRF token is not part of it: the page writes the request's own.
    """
    key = ("fields", name, variant)
    html = rendered.get(key)
    if html is None:
        html = rendered[key] = render()
    return html


def _channel_order(preferred: str | None) -> tuple[str | None, ...]:
    """The patient's first three channels; unknown ones (never selectable) as ``None``."""
    known = {"", *(code for code, _label in CHANNEL_LABELS)}
    order = [*(preferred or "").split(","), "", "", ""][:3]
    return tuple(code if code in known else None for code in order)


def _page_forms(
    rendered: dict[Any, Markup], directory: _Directory, patient: Any, may: _May
) -> dict[str, Markup]:
    """The fields of each action form this viewer may use, in their language."""

    def fields_of(form: type[Any]) -> Callable[[], Markup]:
        return lambda: _render_fields(form())

    forms: dict[str, Markup] = {}
    if may.edit:
        forms["contact"] = _fields(rendered, "contact", None, fields_of(ContactPointForm))
    if may.call:
        forms["call"] = _fields(rendered, "call", None, fields_of(LogCallForm))
    if may.book:
        forms["book"] = directory.booking_fields()
    if may.complaint:
        forms["feedback"] = _fields(rendered, "feedback", None, fields_of(FeedbackForm))
    if may.consent:
        forms["consent"] = _fields(rendered, "consent", None, fields_of(ConsentForm))
        preferred = patient.preferred_channels
        forms["channels"] = _fields(
            rendered,
            "channels",
            _channel_order(preferred),
            lambda: _render_fields(ChannelPreferenceForm.for_patient(preferred)),
        )
    if may.merge:  # a GET form (the preview): its one field, no CSRF token
        forms["merge"] = _fields(
            rendered, "merge", None, lambda: _macro("field")(MergeForm().other_id)
        )
    return forms


@dataclass(frozen=True)
class _May:
    """What the viewer may see and do on the page (the role matrix, asked once)."""

    clinical: bool
    edit: bool
    call: bool
    book: bool
    complaint: bool
    consent: bool
    merge: bool

    @classmethod
    def of(cls, role: str | None) -> _May:
        return cls(
            clinical=allowed(role, Perm.CLINICAL),
            edit=allowed(role, Perm.PATIENT_EDIT),
            call=allowed(role, Perm.LOG_CALL),
            book=allowed(role, Perm.BOOK),
            complaint=allowed(role, Perm.COMPLAINT),
            consent=allowed(role, Perm.CONSENT_EDIT),
            merge=allowed(role, Perm.PATIENT_MERGE),
        )


def _csrf_field(token: str) -> Markup:
    """The hidden CSRF input as WTForms writes it (one token serves every form of the page)."""
    return Markup('<input id="csrf_token" name="csrf_token" type="hidden" value="{}">').format(
        token
    )


def _remembering(format_time: Callable[[Any], str]) -> Callable[[Any], str]:
    """*format_time* for one page, each time formatted once (it costs ~0.1 ms)."""
    seen: dict[Any, str] = {}

    def formatted(value: Any) -> str:
        text = seen.get(value)
        if text is None:
            text = seen[value] = format_time(value)
        return text

    return formatted


def _page_gettext(rendered: dict[Any, Markup]) -> Callable[..., Markup]:
    """``_`` for the page's templates: the i18n extension's answer, remembered per language.

    The page has some thirty fixed labels; through the extension each costs a catalogue
    look-up, two context calls and a format.  Same result: the catalogue's text as
    :class:`Markup` (the extension trusts translations in an autoescaping environment),
    always formatted with ``%`` (so ``%%`` is ``%``), variables escaped.
    """
    catalogue = translations(current_locale())

    def translated(message: str, **variables: Any) -> Markup:
        if variables:
            return Markup(catalogue.ugettext(message)) % variables  # noqa: S704
        text = rendered.get(message)  # labels by their text, forms' fields by a tuple
        if text is None:
            text = rendered[message] = Markup(catalogue.ugettext(message)) % {}  # noqa: S704
        return text

    return translated


def _current(history: list[Any]) -> list[consent.ConsentState]:
    """The latest event per (channel, purpose) from a newest-first history."""
    latest: dict[tuple[str, str], consent.ConsentState] = {}
    for event in history:
        key = (event.channel, event.purpose)
        if key not in latest:
            latest[key] = consent.ConsentState(
                event.channel, event.purpose, event.status, event.method, event.occurred_at
            )
    return [latest[key] for key in sorted(latest)]


def _panels(session: Session, patient_id: int, role: str | None) -> list[PatientPanel]:
    runtime = get_runtime()
    found = runtime.plugins.collect(
        "careloop_patient_panels",
        session=session,
        patient_id=patient_id,
        viewer_role=role or "",
    )
    panels = [p for p in found if isinstance(p, PatientPanel)]
    return sorted(panels, key=lambda p: (p.order, p.title))


#: the page's links and forms' actions: name in the template -> endpoint (``patient_id``)
_PAGE_URLS = {
    "record": "record",
    "edit": "edit",
    "contacts": "add_contact",
    "call": "log_call",
    "book": "book",
    "feedback": "feedback",
    "consent": "change_consent",
    "channels": "change_channels",
    "merge": "merge",
}
#: ids no page shows, standing in for the real ones in a URL built once
_STAND_INS = (987654321987, 876543219876)
#: (script root, endpoint) -> the URL's text around its ids
_URL_SHAPES: dict[tuple[str, str], tuple[str, ...]] = {}


def _url(endpoint: str, patient_id: int, contact_id: int | None = None) -> str:
    """``url_for(endpoint, patient_id=..., contact_id=...)``, built once per script root.

    The page links to ten of its own routes; ``url_for`` costs more than the rest of
    the work on a link.  The URL is built once with stand-in ids, then the ids are
    put in place of the stand-ins.
    """
    key = (request.script_root, endpoint)
    shape = _URL_SHAPES.get(key)
    if shape is None:
        names = ("patient_id",) if contact_id is None else ("patient_id", "contact_id")
        url = url_for(endpoint, **dict(zip(names, _STAND_INS, strict=False)))
        pieces: list[str] = []
        for stand_in in _STAND_INS[: len(names)]:
            head, found, url = url.partition(str(stand_in))
            if not found:
                raise RuntimeError(f"{endpoint}: an id is not in its URL's path")
            pieces.append(head)
        shape = _URL_SHAPES[key] = (*pieces, url)
    if contact_id is None:
        return f"{shape[0]}{int(patient_id)}{shape[1]}"
    return f"{shape[0]}{int(patient_id)}{shape[1]}{int(contact_id)}{shape[2]}"


def _optional_int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


class PatientRecordView(CareLoopView):
    """``/admin/patient/<id>``: the 360° page (not in the menu; reached from lists and lookup)."""

    permission = Perm.PATIENT_RECORD
    #: the clinic directory of this app's database (read again when stale)
    _directory: _Directory | None = None

    def is_visible(self) -> bool:
        return False

    def directory(self, session: Session) -> _Directory:
        """The clinic directory for the booking form, read at most every ``DIRECTORY_TTL``."""
        current = self._directory
        if current is None or current.stale:
            current = self._directory = _Directory.read(session)
        return current

    # -- the page -----------------------------------------------------------

    @expose("/")
    def index(self) -> Any:
        return redirect(url_for("patients.index_view"))

    @expose("/<int:patient_id>")
    def record(self, patient_id: int) -> Any:
        runtime = get_runtime()
        before = _parse_before(request.args.get("before"))
        role = current_role()
        may = _May.of(role)
        rendered = _rendered()
        session = db_session()
        # one statement: the record, its lists and (no ``before``) the timeline's first page
        lists = _Lists.read(session, patient_id, with_timeline=before is None)
        patient = lists.record
        if patient is None:
            abort(404)
        if patient.merged_into_id is not None:
            winner = patients.resolve_merged(session, patient_id)
            return redirect(url_for(".record", patient_id=winner))
        history = lists.consent
        token = csrf_token()
        context = {
            "patient": patient,
            "may": may,
            "contacts": lists.contacts,
            "tags": lists.tags,
            "conditions": lists.conditions if may.clinical else [],
            "consent_now": _current(history),
            "consent_history": history[:CONSENT_HISTORY_SHOWN],
            "appointments": lists.appointments,
            "timeline": patient_timeline(
                session,
                runtime.plugins,
                patient_id,
                before=before,
                limit=TIMELINE_PAGE,
                core_rows=lists.timeline,
            ),
            "panels": _panels(session, patient_id, role),
            "forms": _page_forms(rendered, self.directory(session), patient, may),
            "csrf_field": _csrf_field(token),
            # the layout's sign-out form takes the same token (one token per page)
            "csrf_token": lambda: token,
            "when": _remembering(request_datetime_formatter()),
            "urls": {
                name: _url(f"{self.endpoint}.{endpoint}", patient_id)
                for name, endpoint in _PAGE_URLS.items()
            },
            "remove_contact_url": lambda contact_id: _url(
                f"{self.endpoint}.remove_contact", patient_id, contact_id
            ),
            "show_bodies": may.clinical,
            "before": before,
        }
        # the audit event of this view, written with everything read (one transaction):
        # committed before the page is rendered, so nothing is shown unrecorded (the commit
        # does not wait for the disk unless CARELOOP_DURABLE_VIEW_AUDIT: record_page_view)
        record_page_view(session, current_actor(), [patient_id])
        session.commit()
        return self.render("careloop/patient360.html", _=_page_gettext(rendered), **context)

    # -- actions ------------------------------------------------------------

    def _act(self, patient_id: int, perm: Perm, form: Any, action: Any) -> Any:
        """Check the permission and the form (CSRF), run *action* in one transaction."""
        if not can(perm):
            abort(403)
        if not form.validate():
            if "csrf_token" in form.errors:
                abort(400)
            flash(
                _("Please check the form: %(fields)s", fields=", ".join(sorted(form.errors))),
                "error",
            )
            return redirect(url_for(".record", patient_id=patient_id))
        try:
            with get_runtime().transaction() as session:
                message = action(session)
        except PatientNotFound:
            abort(404)
        except CareLoopError as exc:
            flash(str(exc), "error")
        else:
            flash(message, "success")
        return redirect(url_for(".record", patient_id=patient_id))

    @expose("/<int:patient_id>/call", methods=("POST",))
    def log_call(self, patient_id: int) -> Any:
        form = LogCallForm(request.form)

        def action(session: Session) -> str:
            minutes = form.duration_minutes.data
            interactions.log_interaction(
                session,
                patient_id,
                channel="phone",
                direction=form.direction.data,
                kind="call",
                outcome=form.outcome.data,
                body=form.notes.data or None,
                duration_seconds=None if minutes is None else minutes * 60,
                actor=current_actor(),
            )
            return _("Call logged.")

        return self._act(patient_id, Perm.LOG_CALL, form, action)

    @expose("/<int:patient_id>/appointment", methods=("POST",))
    def book(self, patient_id: int) -> Any:
        form = self.directory(db_session()).booking_form(request.form)
        zone = ZoneInfo(get_runtime().config.timezone)

        def action(session: Session) -> str:
            start = form.scheduled_start.data.replace(tzinfo=zone)
            appointments.book_appointment(
                session,
                patient_id,
                scheduled_start=start,
                doctor_id=_optional_int(form.doctor_id.data),
                department_id=_optional_int(form.department_id.data),
                service_id=_optional_int(form.service_id.data),
                booking_channel="phone",
                notes=form.notes.data or None,
                actor=current_actor(),
            )
            return _("Appointment booked.")

        return self._act(patient_id, Perm.BOOK, form, action)

    @expose("/<int:patient_id>/feedback", methods=("POST",))
    def feedback(self, patient_id: int) -> Any:
        form = FeedbackForm(request.form)

        def action(session: Session) -> str:
            interactions.log_interaction(
                session,
                patient_id,
                channel=form.channel.data,
                direction="inbound",
                kind=form.kind.data,
                subject=form.subject.data,
                body=form.body.data or None,
                actor=current_actor(),
            )
            return _("Recorded.")

        return self._act(patient_id, Perm.COMPLAINT, form, action)

    @expose("/<int:patient_id>/consent", methods=("POST",))
    def change_consent(self, patient_id: int) -> Any:
        form = ConsentForm(request.form)

        def action(session: Session) -> str:
            consent.record_consent(
                session,
                patient_id,
                form.channel.data,
                form.purpose.data,
                form.action.data,
                "staff",
                current_actor(),
                evidence=form.evidence.data or None,
            )
            return _("Consent recorded.")

        return self._act(patient_id, Perm.CONSENT_EDIT, form, action)

    @expose("/<int:patient_id>/channels", methods=("POST",))
    def change_channels(self, patient_id: int) -> Any:
        form = ChannelPreferenceForm(request.form)

        def action(session: Session) -> str:
            patients.update_patient(
                session, patient_id, {"preferred_channels": form.order()}, current_actor()
            )
            return _("Contact preference saved.")

        return self._act(patient_id, Perm.CONSENT_EDIT, form, action)

    @expose("/<int:patient_id>/merge", methods=("GET", "POST"))
    def merge(self, patient_id: int) -> Any:
        """GET (or POST without ``confirm``): a preview; POST with ``confirm=yes``: merge."""
        if not can(Perm.PATIENT_MERGE):
            abort(403)
        form = MergeForm(
            request.form if request.method == "POST" else request.args,
            meta={"csrf": request.method == "POST"},
        )
        if not form.validate():
            if "csrf_token" in form.errors:
                abort(400)
            flash(_("Give the id of the duplicate record."), "error")
            return redirect(url_for(".record", patient_id=patient_id))
        other_id = form.other_id.data
        runtime = get_runtime()
        if request.method == "POST" and form.confirm.data == "yes":
            try:
                with runtime.transaction() as session:
                    patients.merge_patients(session, patient_id, other_id, current_actor())
            except CareLoopError as exc:
                flash(str(exc), "error")
            else:
                flash(_("Records merged."), "success")
            return redirect(url_for(".record", patient_id=patient_id))
        with runtime.session() as session:
            try:
                plan = patients.preview_merge(session, patient_id, other_id)
            except CareLoopError as exc:
                flash(str(exc), "error")
                return redirect(url_for(".record", patient_id=patient_id))
            winner = session.get(Patient, patient_id)
            loser = session.get(Patient, other_id)
            return self.render(
                "careloop/merge_preview.html",
                plan=plan,
                winner=winner,
                loser=loser,
                form=MergeForm(data={"other_id": other_id, "confirm": "yes"}),
            )

    # -- profile and contact points ---------------------------------------------

    @expose("/<int:patient_id>/edit", methods=("GET", "POST"))
    def edit(self, patient_id: int) -> Any:
        if not can(Perm.PATIENT_EDIT):
            abort(403)
        session = db_session()
        try:  # the form shows the record: that is a view, audited like the 360 page
            patient = patients.get_patient(session, patient_id, current_actor())
        except PatientNotFound:
            abort(404)
        if patient.merged_into_id is not None:
            abort(404)
        session.commit()
        form = PatientProfileForm(request.form if request.method == "POST" else None, obj=patient)
        if request.method == "GET":
            form.version.data = PatientProfileForm.version_of(patient)
        elif not form.validate():
            if "csrf_token" in form.errors:
                abort(400)
        elif form.version.data != PatientProfileForm.version_of(patient):
            # someone saved the record since this form was opened: show theirs, save nothing
            flash(
                _("Someone else changed this record meanwhile: check it and save again."),
                "error",
            )
            form = PatientProfileForm(obj=patient)
            form.version.data = PatientProfileForm.version_of(patient)
        else:
            try:
                with get_runtime().transaction() as tx:
                    changed = patients.update_patient(
                        tx, patient_id, form.changes(), current_actor()
                    )
            except CareLoopError as exc:
                flash(str(exc), "error")
            else:
                flash(_("Profile saved.") if changed else _("Nothing changed."), "success")
                return redirect(url_for(".record", patient_id=patient_id))
        return self.render("careloop/patient_edit.html", form=form, patient=patient)

    @expose("/<int:patient_id>/contacts", methods=("POST",))
    def add_contact(self, patient_id: int) -> Any:
        form = ContactPointForm(request.form)

        def action(session: Session) -> str:
            patients.add_contact_point(
                session, patient_id, form.kind.data, form.value.data, current_actor()
            )
            return _("Contact added.")

        return self._act(patient_id, Perm.PATIENT_EDIT, form, action)

    @expose("/<int:patient_id>/contacts/<int:contact_id>/remove", methods=("POST",))
    def remove_contact(self, patient_id: int, contact_id: int) -> Any:
        form = SecureForm(request.form)

        def action(session: Session) -> str:
            patients.remove_contact_point(session, patient_id, contact_id, current_actor())
            return _("Contact removed.")

        return self._act(patient_id, Perm.PATIENT_EDIT, form, action)

    # -- new patient (from caller-ID "create") -------------------------------

    @expose("/new", methods=("GET", "POST"))
    def new(self) -> Any:
        if not can(Perm.PATIENT_EDIT):
            abort(403)
        form = NewPatientForm(request.form if request.method == "POST" else None)
        if request.method == "GET":
            form.phone.data = request.args.get("phone", "")
        elif form.validate():
            data = patients.PatientInput(
                given_name=form.given_name.data or "",
                family_name=form.family_name.data or "",
                mrn=form.mrn.data or None,
                birth_date=form.birth_date.data,
                preferred_language=form.preferred_language.data or None,
                lead_source=form.lead_source.data or None,
                phones=[form.phone.data] if form.phone.data else [],
                emails=[form.email.data] if form.email.data else [],
            )
            try:
                with get_runtime().transaction() as session:
                    patient = patients.create_patient(session, data, current_actor())
                    new_id = patient.id
            except CareLoopError as exc:
                flash(str(exc), "error")
            else:
                flash(_("Patient created."), "success")
                return redirect(url_for(".record", patient_id=new_id))
        elif "csrf_token" in form.errors:
            abort(400)
        return self.render("careloop/patient_new.html", form=form)
