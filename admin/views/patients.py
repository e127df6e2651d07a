"""The patient list: search by name, any phone format, e-mail or MRN; filters; export.

Fast at 100,000+ patients: no page count (``simple_list_pager``), ordered on
the indexed ``sort_name``, contact points loaded in one extra query per page,
and filters written as ``id IN (subquery)`` on indexed columns.

Cheap to serve: rows are plain tuples (:class:`PatientRow`), never ORM objects; a
page without filters (the list and the search box) runs a statement compiled once
per shape on the driver (:func:`_page_query`, :mod:`core.driver_query`); filtered
pages and the export keep Flask-Admin's query.  The page is
``careloop/patient_list.html``, a lean copy of Flask-Admin's list template; it shows
``created_at`` with one datetime formatter built per page (clinic zone, viewer's
locale), like the base view's type formatters do for Flask-Admin's own lists.
"""

# Flask-Admin is configured by class attributes (dicts and lists): RUF012 does not apply.
# ruff: noqa: RUF012

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from flask import abort
from flask_admin.contrib.sqla.filters import BaseSQLAFilter
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    String,
    and_,
    bindparam,
    false,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Session

from admin.i18n import request_datetime_formatter
from admin.views.base import (
    CareLoopModelView,
    Perm,
    can,
    db_session,
    get_runtime,
    record_url_prefix,
)
from core.driver_query import DriverQuery
from core.errors import InvalidEmail
from core.i18n import lazy_gettext
from core.identity import looks_like_email, normalize_email, sort_key, try_normalize_phone
from core.models import (
    Appointment,
    Condition,
    ConsentEvent,
    ContactPoint,
    Department,
    Doctor,
    Patient,
    Tag,
    patient_conditions,
    patient_tags,
)
from core.models.enums import ConsentChannel, ConsentPurpose, ContactKind
from core.services.consent import ConsentStatus

#: options shown in a filter's drop-down at most
MAX_OPTIONS = 500
#: patients one identifier (phone, e-mail, MRN) may match in a search
MAX_MATCHES = 200


#: seconds the filters' drop-down options are reused before they are read again
OPTIONS_TTL = 60.0


def _options(statement: Any) -> Callable[[], list[tuple[str, str]]]:
    """Options read from the database (the list view re-reads them every OPTIONS_TTL)."""

    def load() -> list[tuple[str, str]]:
        with get_runtime().session() as session:
            rows = session.execute(statement.limit(MAX_OPTIONS))
            return [(str(v), str(label)) for v, label in rows]

    return load


class _SubqueryFilter(BaseSQLAFilter):
    """``patients.id IN (<subquery for the chosen value>)``."""

    #: the permission a role needs to use this filter (``None``: anyone who sees the list)
    permission: Perm | None = None

    def __init__(self, name: Any, options: Any = None) -> None:
        super().__init__(Patient.id, name, options=options)

    def ids(self, value: str) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def apply(self, query: Any, value: Any, alias: Any = None) -> Any:
        if self.permission is not None and not can(self.permission):
            abort(403)
        return query.filter(Patient.id.in_(self.ids(value)))

    def operation(self) -> Any:
        return lazy_gettext("is")

    def validate(self, value: Any) -> bool:
        return bool(str(value).strip())


class DepartmentFilter(_SubqueryFilter):
    """Patients with an appointment in a department."""

    def ids(self, value: str) -> Any:
        return select(Appointment.patient_id).where(Appointment.department_id == _int(value))


class DoctorFilter(_SubqueryFilter):
    """Patients with an appointment with a doctor, or whose primary doctor they are."""

    def apply(self, query: Any, value: Any, alias: Any = None) -> Any:
        doctor_id = _int(value)
        seen = select(Appointment.patient_id).where(Appointment.doctor_id == doctor_id)
        return query.filter(or_(Patient.primary_doctor_id == doctor_id, Patient.id.in_(seen)))


class TagFilter(_SubqueryFilter):
    """Patients with a tag."""

    def ids(self, value: str) -> Any:
        return select(patient_tags.c.patient_id).where(patient_tags.c.tag_id == _int(value))


class ConditionFilter(_SubqueryFilter):
    """Patients with a condition (clinical: not for marketers)."""

    permission = Perm.CLINICAL

    def ids(self, value: str) -> Any:
        return select(patient_conditions.c.patient_id).where(
            patient_conditions.c.condition_id == _int(value)
        )


class ConsentFilter(_SubqueryFilter):
    """Patients whose latest consent for ``channel/purpose`` is a grant."""

    def ids(self, value: str) -> Any:
        channel, _sep, purpose = value.partition("/")
        latest = (
            select(
                ConsentEvent.patient_id,
                ConsentEvent.status,
                func.row_number()
                .over(
                    partition_by=ConsentEvent.patient_id,
                    order_by=(ConsentEvent.occurred_at.desc(), ConsentEvent.id.desc()),
                )
                .label("rank"),
            )
            .where(ConsentEvent.channel == channel, ConsentEvent.purpose == purpose)
            .subquery()
        )
        return select(latest.c.patient_id).where(
            latest.c.rank == 1, latest.c.status == ConsentStatus.GRANTED.value
        )


class LanguageFilter(BaseSQLAFilter):
    """Preferred language (BCP 47 base tag, e.g. ``id`` matches ``id-ID``)."""

    def __init__(self, name: Any) -> None:
        super().__init__(Patient.preferred_language, name)

    def apply(self, query: Any, value: Any, alias: Any = None) -> Any:
        tag = str(value).strip()
        return query.filter(
            or_(
                Patient.preferred_language == tag,
                Patient.preferred_language.like(f"{_like(tag)}-%", escape="\\"),
            )
        )

    def operation(self) -> Any:
        return lazy_gettext("is")


class LeadSourceFilter(BaseSQLAFilter):
    """Lead source, exact."""

    def __init__(self, name: Any) -> None:
        super().__init__(Patient.lead_source, name)

    def apply(self, query: Any, value: Any, alias: Any = None) -> Any:
        return query.filter(Patient.lead_source == str(value).strip())

    def operation(self) -> Any:
        return lazy_gettext("is")


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        abort(400)


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _prefix(column: Any, key: str) -> ColumnElement[bool]:
    """``column`` starts with *key*: an index range (any collation) plus the exact LIKE."""
    return and_(
        column >= key,
        column < key + "\U0010ffff",
        column.like(f"{_like(key)}%", escape="\\"),
    )


_PHONE_KINDS = (ContactKind.PHONE.value, ContactKind.WHATSAPP.value)
#: identifier look-ups, built once (see core.driver_query): patient ids for ``:value``
_BY_MRN = DriverQuery(
    select(Patient.id).where(Patient.mrn == bindparam("value")).limit(MAX_MATCHES), "value"
)
_BY_EMAIL = DriverQuery(
    select(ContactPoint.patient_id)
    .where(ContactPoint.kind == ContactKind.EMAIL.value, ContactPoint.value == bindparam("value"))
    .limit(MAX_MATCHES),
    "value",
)
_BY_PHONE = DriverQuery(
    select(ContactPoint.patient_id)
    .where(
        or_(*(ContactPoint.kind == kind for kind in _PHONE_KINDS)),
        ContactPoint.value == bindparam("value"),
    )
    .limit(MAX_MATCHES),
    "value",
)


def _ids(session: Session, query: DriverQuery, value: str) -> list[int]:
    return [row[0] for row in query.rows(session, value=value)]


def _ids_for(session: Session, text: str, region: str) -> list[int] | None:
    """Patient ids for an e-mail, a phone number or an MRN (indexed lookups), else ``None``."""
    if looks_like_email(text):
        try:
            email = normalize_email(text)
        except InvalidEmail:
            return []
        return _ids(session, _BY_EMAIL, email)
    ids = _ids(session, _BY_MRN, text)
    digits = sum(ch.isdigit() for ch in text)
    if digits >= 5 and not any(ch.isalpha() for ch in text):
        e164 = try_normalize_phone(text, region)
        if e164:
            ids += _ids(session, _BY_PHONE, e164)
        return ids
    return ids or None


class Search(NamedTuple):
    """What a search box text asks for: these patient ids, or these sort-name prefixes.

    Neither (both empty) means nothing matches.
    """

    ids: tuple[int, ...] = ()
    name_keys: tuple[str, ...] = ()


def search_terms(session: Session, text: str, region: str) -> Search | None:
    """What the search box means: e-mail, phone in any format, MRN, or a name.

    Identifiers are looked up first on their indexes.  A name matches the start
    of the sort name (family name first, as the list is sorted), written either
    way round: ``Sudarsana``, ``Sudarsana Wayan``, ``Wayan Sudarsana``, ``sudar``.
    Every branch uses an index, so the search costs the same at 1,000,000 patients.
    ``None``: no search (an empty box).
    """
    text = text.strip()
    if not text:
        return None
    ids = _ids_for(session, text, region)
    if ids is not None and (ids or looks_like_email(text) or not _has_letters(text)):
        return Search(ids=tuple(dict.fromkeys(ids)))
    words = sort_key("", "", text).split()
    if not words:
        return Search()
    variants = {" ".join(words), " ".join([*words[1:], words[0]]), " ".join(reversed(words))}
    return Search(name_keys=tuple(sorted(variants)))


def search_condition(session: Session, text: str, region: str) -> ColumnElement[bool]:
    """:func:`search_terms` as a condition on :class:`Patient`."""
    terms = search_terms(session, text, region)
    if terms is None:
        return and_()
    if terms.name_keys:
        return or_(*[_prefix(Patient.sort_name, key) for key in terms.name_keys])
    return Patient.id.in_(terms.ids) if terms.ids else false()


def _has_letters(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


class PatientRow(NamedTuple):
    """One patient as the list and the export show it (no ORM object is built)."""

    id: int
    display_name: str
    mrn: str | None
    birth_date: dt.date | None
    sex: str
    preferred_language: str | None
    lead_source: str | None
    city: str | None
    created_at: dt.datetime
    phone: str = ""
    email: str = ""


_ROW_COLUMNS = tuple(getattr(Patient, name) for name in PatientRow._fields[:-2])
_SHOWN_CONTACTS = (ContactKind.PHONE.value, ContactKind.EMAIL.value)
#: patients whose contacts one query reads: a list page.  Keep it (plus the two kinds)
#: within psycopg's 50 parameters, above which it re-parses the statement every time.
CONTACTS_CHUNK = 25
#: their phones and e-mails, primary first, then oldest first; unused slots are NULL
_CONTACTS = DriverQuery(
    select(ContactPoint.patient_id, ContactPoint.kind, ContactPoint.value)
    .where(
        ContactPoint.patient_id.in_([bindparam(f"p{i}") for i in range(CONTACTS_CHUNK)]),
        or_(*(ContactPoint.kind == kind for kind in _SHOWN_CONTACTS)),
    )
    .order_by(ContactPoint.is_primary.desc(), ContactPoint.id),
    *(f"p{i}" for i in range(CONTACTS_CHUNK)),
)


def _rows(session: Session, query: Any) -> list[PatientRow]:
    """The rows of Flask-Admin's *query* (filters applied), with their contacts."""
    return _with_contacts(session, query.with_entities(*_ROW_COLUMNS).all())


def _with_contacts(session: Session, found: list[Any]) -> list[PatientRow]:
    """*found* patients' columns and each one's primary (else oldest) phone and e-mail.

    The contacts are read for the page's ids only, in one more indexed query (a
    correlated subquery would also run for every row an OFFSET skips).
    """
    first: dict[tuple[int, str], str] = {}
    for start in range(0, len(found), CONTACTS_CHUNK):
        ids = [row[0] for row in found[start : start + CONTACTS_CHUNK]]
        ids += [None] * (CONTACTS_CHUNK - len(ids))
        for patient_id, kind, value in _CONTACTS.rows(
            session, **{f"p{i}": v for i, v in enumerate(ids)}
        ):
            first.setdefault((patient_id, kind), value)
    phone, email = _SHOWN_CONTACTS
    return [
        PatientRow(*row, first.get((row[0], phone), ""), first.get((row[0], email), ""))
        for row in found
    ]


_ACTIVE = (Patient.merged_into_id.is_(None), Patient.archived_at.is_(None))


@functools.lru_cache(maxsize=128)
def _page_query(order_by: str, desc: bool, name_keys: int, id_slots: int) -> DriverQuery:
    """One page of active patients in one order, optionally searched, built once per shape.

    ``name_keys`` sort-name prefixes (parameters ``k<i>``, ``u<i>``, ``l<i>``: the key,
    its upper bound and its LIKE pattern) or ``id_slots`` ids (``i<i>``, unused ones
    NULL); then ``limit`` and ``offset``.
    """
    column = getattr(Patient, order_by)
    statement = select(*_ROW_COLUMNS).where(*_ACTIVE)
    names: list[str] = []
    if name_keys:
        names += [f"{p}{i}" for i in range(name_keys) for p in "kul"]
        statement = statement.where(
            or_(
                *(
                    and_(
                        Patient.sort_name >= bindparam(f"k{i}", type_=String),
                        Patient.sort_name < bindparam(f"u{i}", type_=String),
                        Patient.sort_name.like(bindparam(f"l{i}", type_=String), escape="\\"),
                    )
                    for i in range(name_keys)
                )
            )
        )
    if id_slots:
        names += [f"i{i}" for i in range(id_slots)]
        statement = statement.where(
            Patient.id.in_([bindparam(f"i{i}", type_=BigInteger) for i in range(id_slots)])
        )
    statement = statement.order_by(column.desc() if desc else column)
    statement = statement.limit(bindparam("limit")).offset(bindparam("offset"))
    return DriverQuery(statement, *names, "limit", "offset")


def _slots(count: int) -> int:
    """Id parameters for *count* ids: a power of two, so few statement shapes exist."""
    slots = 1
    while slots < count:
        slots *= 2
    return slots


def _search_values(terms: Search | None) -> tuple[int, int, dict[str, Any]]:
    """``(name_keys, id_slots, parameter values)`` of a search for :func:`_page_query`."""
    if terms is None:
        return 0, 0, {}
    values: dict[str, Any] = {}
    if terms.name_keys:
        for i, key in enumerate(terms.name_keys):
            values.update({f"k{i}": key, f"u{i}": key + "\U0010ffff", f"l{i}": f"{_like(key)}%"})
        return len(terms.name_keys), 0, values
    slots = _slots(len(terms.ids))
    values = {f"i{i}": None for i in range(slots)}
    values.update({f"i{i}": patient_id for i, patient_id in enumerate(terms.ids)})
    return 0, slots, values


class PatientListView(CareLoopModelView):
    """Patients (active records), for every role that may see contact data."""

    permission = Perm.PATIENT_LIST
    list_template = "careloop/patient_list.html"
    page_size = 25
    can_create = False
    can_edit = False
    allow_export = True
    export_types = ["csv"]
    column_list = (
        "display_name",
        "mrn",
        "phone",
        "email",
        "birth_date",
        "preferred_language",
        "lead_source",
        "city",
        "created_at",
    )
    column_export_list = (
        "id",
        "display_name",
        "mrn",
        "phone",
        "email",
        "birth_date",
        "sex",
        "preferred_language",
        "lead_source",
        "city",
        "created_at",
    )
    column_labels = {
        "display_name": lazy_gettext("Name"),
        "mrn": lazy_gettext("MRN"),
        "phone": lazy_gettext("Phone"),
        "email": lazy_gettext("E-mail"),
        "birth_date": lazy_gettext("Born"),
        "preferred_language": lazy_gettext("Language"),
        "lead_source": lazy_gettext("Lead source"),
        "city": lazy_gettext("City"),
        "created_at": lazy_gettext("Created"),
        "sex": lazy_gettext("Sex"),
    }
    column_sortable_list = (("display_name", "sort_name"), "mrn", "created_at")
    column_default_sort = ("sort_name", False)
    #: the search box; the real matching is :func:`search_condition`
    column_searchable_list = ("display_name",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._options_at = float("-inf")
        super().__init__(*args, **kwargs)

    def get_filters(self) -> list[Any]:
        consent_options = [
            (f"{c.value}/{p.value}", f"{c.value} / {p.value}")
            for c in ConsentChannel
            for p in ConsentPurpose
        ]
        return [
            DepartmentFilter(
                lazy_gettext("Department"),
                options=_options(select(Department.id, Department.name).order_by(Department.name)),
            ),
            DoctorFilter(
                lazy_gettext("Doctor"),
                options=_options(
                    select(Doctor.id, Doctor.display_name).order_by(Doctor.display_name)
                ),
            ),
            TagFilter(
                lazy_gettext("Tag"), options=_options(select(Tag.id, Tag.name).order_by(Tag.name))
            ),
            ConditionFilter(
                lazy_gettext("Condition"),
                options=_options(
                    select(Condition.id, Condition.code + " " + Condition.label).order_by(
                        Condition.code
                    )
                ),
            ),
            LanguageFilter(lazy_gettext("Language")),
            LeadSourceFilter(lazy_gettext("Lead source")),
            ConsentFilter(lazy_gettext("Consent granted"), options=consent_options),
        ]

    def _get_filter_groups(self) -> Any:
        if time.monotonic() - self._options_at >= OPTIONS_TTL:
            self._refresh_filters_cache()  # options (departments, tags...) change at run time
            self._options_at = time.monotonic()
        groups = super()._get_filter_groups()
        if groups and not can(Perm.CLINICAL):
            groups.pop(str(lazy_gettext("Condition")), None)
        return groups

    def get_query(self) -> Any:
        return (
            super()
            .get_query()
            .filter(Patient.merged_into_id.is_(None), Patient.archived_at.is_(None))
        )

    def get_list(
        self,
        page: int | None,
        sort_column: Any,
        sort_desc: bool,
        search: str | None,
        filters: Any,
        execute: bool = True,
        page_size: int | None = None,
    ) -> tuple[int | None, Any]:
        """Flask-Admin's query (search, filters, sort, page), reading row tuples.

        A page without filters (the list, the search box) runs a statement built once
        per shape (:func:`_page_query`) instead of building and compiling a new one.
        """
        order = self._plain_order(sort_column, sort_desc)
        if execute and not filters and page_size and order is not None:
            session = db_session()
            terms = None
            if search:
                terms = search_terms(session, search, get_runtime().config.default_region)
                if terms is not None and not terms.ids and not terms.name_keys:
                    return None, []
            name_keys, id_slots, values = _search_values(terms)
            query = _page_query(*order, name_keys, id_slots)
            offset = max(page or 0, 0) * page_size
            found = query.rows(session, limit=page_size, offset=offset, **values)
            return None, _with_contacts(session, found)
        count, query = super().get_list(
            page, sort_column, sort_desc, search, filters, execute=False, page_size=page_size
        )
        return count, (_rows(db_session(), query) if execute else query)

    def _plain_order(self, sort_column: Any, sort_desc: bool) -> tuple[str, bool] | None:
        """``(Patient column name, descending)`` for a sort on a patient column, else ``None``."""
        if sort_column is None:
            default = self.column_default_sort
            if isinstance(default, str):
                default = (default, False)
            name = default[0] if isinstance(default, tuple) and len(default) == 2 else None
            if isinstance(name, str) and hasattr(Patient, name):
                return name, bool(default[1])
            return None
        column = self._sortable_columns.get(sort_column)
        key = getattr(column, "key", None)
        if key is None or self._sortable_joins.get(sort_column):
            return None
        if getattr(Patient, key, None) is not column:
            return None
        return key, bool(sort_desc)

    def render(self, template: str, **kwargs: Any) -> Any:
        if template == self.list_template:
            # names link to the 360 page for roles that may open it (asked once a page)
            kwargs["record_prefix"] = record_url_prefix() if can(Perm.PATIENT_RECORD) else ""
            # times in the clinic's zone and the viewer's locale: one formatter a page
            kwargs["local_datetime"] = request_datetime_formatter()
        return super().render(template, **kwargs)

    def _apply_search(
        self, query: Any, count_query: Any, joins: Any, count_joins: Any, search: str
    ) -> tuple[Any, Any, Any, Any]:
        condition = search_condition(db_session(), search, get_runtime().config.default_region)
        query = query.filter(condition)
        if count_query is not None:
            count_query = count_query.filter(condition)
        return query, count_query, joins, count_joins
