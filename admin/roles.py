"""The role matrix: which staff role may do what.  The ONE place access is decided.

Views and routes name a :class:`Perm`; :func:`allowed` answers for a role.
Changing who may do what means editing :data:`ROLE_PERMISSIONS` only.
"""

from __future__ import annotations

from enum import StrEnum

from core.models.enums import Role


class Perm(StrEnum):
    """One thing a staff member may be allowed to see or do."""

    #: the patient list and search: names and contact data
    PATIENT_LIST = "patient.list"
    #: the patient 360 page and anything else showing one whole record
    PATIENT_RECORD = "patient.record"
    #: clinical conditions, notes and interaction bodies
    CLINICAL = "patient.clinical"
    #: create patients and edit their profile
    PATIENT_EDIT = "patient.edit"
    #: CSV export of patient lists
    PATIENT_EXPORT = "patient.export"
    #: merge duplicate records
    PATIENT_MERGE = "patient.merge"
    #: the interactions list
    INTERACTIONS = "interactions"
    #: the appointments list
    APPOINTMENTS = "appointments"
    #: grant or withdraw consent
    CONSENT_EDIT = "consent.edit"
    #: caller-ID lookup
    LOOKUP = "lookup"
    #: log a call on a patient
    LOG_CALL = "agent.log_call"
    #: book an appointment for a patient
    BOOK = "agent.book"
    #: record a complaint or a suggestion
    COMPLAINT = "agent.complaint"
    #: campaigns, segments, surveys and attribution reports
    MARKETING = "marketing"
    #: the message outbox and message templates
    MESSAGING = "messaging"
    #: staff users
    USERS = "users"
    #: plugin management
    PLUGINS = "plugins"
    #: the audit trail
    AUDIT = "audit"


_CRM_STAFF = frozenset(
    {
        Perm.PATIENT_LIST,
        Perm.PATIENT_RECORD,
        Perm.CLINICAL,
        Perm.PATIENT_EDIT,
        Perm.PATIENT_EXPORT,
        Perm.PATIENT_MERGE,
        Perm.INTERACTIONS,
        Perm.APPOINTMENTS,
        Perm.CONSENT_EDIT,
        Perm.LOOKUP,
        Perm.LOG_CALL,
        Perm.BOOK,
        Perm.COMPLAINT,
        Perm.MESSAGING,
    }
)
_AGENT = frozenset(
    {
        Perm.PATIENT_LIST,
        Perm.PATIENT_RECORD,
        Perm.CLINICAL,
        Perm.PATIENT_EDIT,
        Perm.LOOKUP,
        Perm.LOG_CALL,
        Perm.BOOK,
        Perm.COMPLAINT,
    }
)
_MARKETER = frozenset({Perm.PATIENT_LIST, Perm.MARKETING, Perm.MESSAGING})

#: role -> what it may do.  Admins may do everything.
ROLE_PERMISSIONS: dict[str, frozenset[Perm]] = {
    Role.ADMIN.value: frozenset(Perm),
    Role.CRM_STAFF.value: _CRM_STAFF,
    Role.AGENT.value: _AGENT,
    Role.MARKETER.value: _MARKETER,
}


def allowed(role: str | None, perm: Perm | str) -> bool:
    """True when *role* may use *perm*; unknown roles and permissions may use nothing."""
    if role is None:
        return False
    return Perm(perm) in ROLE_PERMISSIONS.get(role, frozenset()) if perm in _VALUES else False


_VALUES = frozenset(p.value for p in Perm)
