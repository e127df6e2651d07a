"""Forms of the agent actions and patient creation; every one carries a CSRF token."""

from __future__ import annotations

from typing import Any

from flask_admin.form import SecureForm
from wtforms import (
    DateField,
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from core.i18n import lazy_gettext as _l
from core.models.enums import ConsentChannel, ConsentPurpose

CALL_OUTCOMES = (
    ("answered", _l("Answered")),
    ("resolved", _l("Resolved")),
    ("callback", _l("Call back")),
    ("no_answer", _l("No answer")),
    ("voicemail", _l("Voicemail")),
    ("wrong_number", _l("Wrong number")),
)


class LogCallForm(SecureForm):
    """A phone call with its outcome, notes and duration."""

    direction = SelectField(
        _l("Direction"), choices=[("inbound", _l("Inbound")), ("outbound", _l("Outbound"))]
    )
    outcome = SelectField(_l("Outcome"), choices=CALL_OUTCOMES)
    duration_minutes = IntegerField(
        _l("Duration (minutes)"), validators=[Optional(), NumberRange(min=0, max=600)]
    )
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=10000)])


class BookAppointmentForm(SecureForm):
    """A visit, in the clinic's time zone."""

    scheduled_start = DateTimeLocalField(
        _l("Start"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()]
    )
    doctor_id = SelectField(_l("Doctor"), coerce=str, validators=[Optional()])
    department_id = SelectField(_l("Department"), coerce=str, validators=[Optional()])
    service_id = SelectField(_l("Service"), coerce=str, validators=[Optional()])
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=5000)])


class FeedbackForm(SecureForm):
    """A complaint or a suggestion."""

    kind = SelectField(
        _l("Kind"), choices=[("complaint", _l("Complaint")), ("suggestion", _l("Suggestion"))]
    )
    channel = SelectField(
        _l("Received by"),
        choices=[
            ("phone", _l("Phone")),
            ("in_person", _l("In person")),
            ("email", _l("E-mail")),
            ("whatsapp", _l("WhatsApp")),
            ("web", _l("Web")),
        ],
    )
    subject = StringField(_l("Subject"), validators=[DataRequired(), Length(max=250)])
    body = TextAreaField(_l("Details"), validators=[Optional(), Length(max=10000)])


class ConsentForm(SecureForm):
    """Grant or withdraw consent for one channel and purpose."""

    channel = SelectField(_l("Channel"), choices=[(c.value, c.value) for c in ConsentChannel])
    purpose = SelectField(_l("Purpose"), choices=[(p.value, p.value) for p in ConsentPurpose])
    action = SelectField(
        _l("Action"), choices=[("granted", _l("Grant")), ("withdrawn", _l("Withdraw"))]
    )
    evidence = StringField(_l("Evidence"), validators=[Optional(), Length(max=500)])


#: the channels a patient can name as preferred (labels for staff)
CHANNEL_LABELS = (
    ("whatsapp", _l("WhatsApp")),
    ("sms", _l("SMS")),
    ("email", _l("E-mail")),
    ("phone", _l("Phone")),
)


class ChannelPreferenceForm(SecureForm):
    """The patient's own order of contact channels (up to three; blank: no preference)."""

    first = SelectField(_l("First choice"), choices=[("", _l("No preference")), *CHANNEL_LABELS])
    second = SelectField(_l("Second choice"), choices=[("", "-"), *CHANNEL_LABELS])
    third = SelectField(_l("Third choice"), choices=[("", "-"), *CHANNEL_LABELS])

    @classmethod
    def for_patient(cls, preferred: str | None) -> ChannelPreferenceForm:
        """The form filled in with the patient's current order."""
        order = [*(preferred or "").split(","), "", "", ""][:3]
        return cls(data=dict(zip(("first", "second", "third"), order, strict=True)))

    def order(self) -> list[str]:
        return [f.data for f in (self.first, self.second, self.third) if f.data]


class MergeForm(SecureForm):
    """Merge a duplicate (the other record) into this one."""

    other_id = IntegerField(_l("Duplicate record id"), validators=[DataRequired()])
    confirm = HiddenField(default="")


class NewPatientForm(SecureForm):
    """The fields staff fill in when a caller is not known yet."""

    given_name = StringField(_l("Given name"), validators=[Optional(), Length(max=120)])
    family_name = StringField(_l("Family name"), validators=[Optional(), Length(max=120)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=40)])
    email = StringField(_l("E-mail"), validators=[Optional(), Length(max=320)])
    mrn = StringField(_l("MRN"), validators=[Optional(), Length(max=64)])
    birth_date = DateField(_l("Birth date"), validators=[Optional()])
    preferred_language = StringField(_l("Language"), validators=[Optional(), Length(max=35)])
    lead_source = StringField(_l("Lead source"), validators=[Optional(), Length(max=120)])


SEX_CHOICES = (
    ("unknown", _l("Unknown")),
    ("female", _l("Female")),
    ("male", _l("Male")),
    ("other", _l("Other")),
)


class PatientProfileForm(SecureForm):
    """The profile fields staff may correct (the display name follows the names)."""

    given_name = StringField(_l("Given name"), validators=[Optional(), Length(max=120)])
    family_name = StringField(_l("Family name"), validators=[Optional(), Length(max=120)])
    mrn = StringField(_l("MRN"), validators=[Optional(), Length(max=64)])
    birth_date = DateField(_l("Birth date"), validators=[Optional()])
    sex = SelectField(_l("Sex"), choices=SEX_CHOICES)
    preferred_language = StringField(_l("Language"), validators=[Optional(), Length(max=35)])
    time_zone = StringField(_l("Time zone"), validators=[Optional(), Length(max=64)])
    address_line = StringField(_l("Address"), validators=[Optional(), Length(max=250)])
    city = StringField(_l("City"), validators=[Optional(), Length(max=120)])
    province = StringField(_l("Province"), validators=[Optional(), Length(max=120)])
    postal_code = StringField(_l("Postal code"), validators=[Optional(), Length(max=20)])
    country = StringField(_l("Country (ISO code)"), validators=[Optional(), Length(max=2)])
    lead_source = StringField(_l("Lead source"), validators=[Optional(), Length(max=120)])
    #: the record's ``updated_at`` when the form was opened (a save after another one is refused)
    version = HiddenField()

    @staticmethod
    def version_of(patient: Any) -> str:
        return patient.updated_at.isoformat() if patient.updated_at else ""

    #: the form's fields, in the order of ``core.services.patients.PROFILE_FIELDS``
    FIELDS = (
        "given_name",
        "family_name",
        "mrn",
        "birth_date",
        "sex",
        "preferred_language",
        "time_zone",
        "address_line",
        "city",
        "province",
        "postal_code",
        "country",
        "lead_source",
    )

    def changes(self) -> dict[str, object]:
        """Field -> value as the service takes it (blank text is ``None``)."""
        out: dict[str, object] = {}
        for name in self.FIELDS:
            value = getattr(self, name).data
            out[name] = value.strip() or None if isinstance(value, str) else value
        out["given_name"] = out["given_name"] or ""
        out["family_name"] = out["family_name"] or ""
        return out


class ContactPointForm(SecureForm):
    """Add a phone, e-mail or WhatsApp number (any format; checked by the service)."""

    kind = SelectField(
        _l("Kind"),
        choices=[("phone", _l("Phone")), ("email", _l("E-mail")), ("whatsapp", _l("WhatsApp"))],
    )
    value = StringField(_l("Number or address"), validators=[DataRequired(), Length(max=320)])
