"""Core models shared by every plugin.  Importing this package registers them all."""

from core.models.appointment import Appointment
from core.models.clinic import Department, Doctor, Service
from core.models.consent import ConsentEvent
from core.models.interaction import Interaction
from core.models.outbox import MessageTemplate, OutboundMessage
from core.models.patient import (
    Condition,
    ContactPoint,
    ExternalId,
    Patient,
    RelatedPerson,
    Tag,
    patient_conditions,
    patient_tags,
)
from core.models.periodic import PeriodicRun
from core.models.staff import AuditEvent, PluginState, StaffUser

__all__ = [
    "Appointment",
    "AuditEvent",
    "Condition",
    "ConsentEvent",
    "ContactPoint",
    "Department",
    "Doctor",
    "ExternalId",
    "Interaction",
    "MessageTemplate",
    "OutboundMessage",
    "Patient",
    "PeriodicRun",
    "PluginState",
    "RelatedPerson",
    "Service",
    "StaffUser",
    "Tag",
    "patient_conditions",
    "patient_tags",
]
