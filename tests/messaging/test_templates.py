"""Templates: the sandbox, its limits, validation on save, locale fallback, context."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from core.messaging import templates
from core.messaging.templates import TemplateNotFound, TemplateProblem, render_string
from core.models import Appointment

CTX = templates.sample_context()


@pytest.mark.parametrize(
    "source",
    [
        "{{ patient.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ patient.display_name.__init__.__globals__ }}",
        "{{ ctx.update({'x': 1}) }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ self.__init__ }}",
    ],
)
def test_no_access_to_python_internals(source):
    with pytest.raises(TemplateProblem):
        render_string(source, CTX)


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(100000) %}x{% endfor %}",
        "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
        "{% for a in 'x' * 5000 %}{% for b in 'y' * 5000 %}{% endfor %}{% endfor %}",
        "{{ 'x' * 100000000 }}",
        "{{ 9 ** 99999999 }}",
        "{{ 'a' | center(100000000) }}",
        "{% for i in range(999) %}{{ 'x' | center(10000) }}{% endfor %}",
        "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    ],
)
def test_loops_and_huge_outputs_are_cut_quickly(source):
    start = time.monotonic()
    with pytest.raises(TemplateProblem):
        render_string(source, CTX)
    assert time.monotonic() - start < 2 * templates.MAX_SECONDS + 0.5


def test_undefined_variables_raise():
    with pytest.raises(TemplateProblem, match="undefined"):
        render_string("{{ patient.birth_date }}", CTX)
    with pytest.raises(TemplateProblem, match="undefined"):
        render_string("{{ missing }}", CTX)


def test_ordinary_templates_render():
    text = render_string(
        "{{ patient.given_name|upper }}: {% for i in range(3) %}{{ i }}{% endfor %} "
        "{{ appointment.time }} {{ ctx.code }}",
        CTX,
    )
    assert text == "SITI: 012 09:30 <code>"


def test_validate_names_the_problem():
    with pytest.raises(TemplateProblem, match="unknown variable"):
        templates.validate_template("Hi {{ name }}")
    with pytest.raises(TemplateProblem, match="syntax error"):
        templates.validate_template("Hi {% if %}")
    with pytest.raises(TemplateProblem) as info:
        templates.validate_template("ok", subject="{{ patient.nope }}")
    assert info.value.field == "subject"
    with pytest.raises(TemplateProblem):
        templates.validate_template("ok", params=["{{ patient.__class__ }}"])
    templates.validate_template("Hi {{ patient.display_name }} {{ ctx.anything }}")


def test_locale_fallback(msg_runtime):
    with msg_runtime.transaction() as session:
        templates.save_template(session, key="k", locale="en", body="en any")
        templates.save_template(session, key="k", locale="id", body="id any")
        templates.save_template(session, key="k", locale="id", channel="sms", body="id sms")
    with msg_runtime.session() as session:
        find = templates.find_template
        assert find(session, "k", "sms", "id-ID", "en").body == "id sms"
        assert find(session, "k", "email", "id", "en").body == "id any"
        assert find(session, "k", "email", "ko", "en").body == "en any"
        with pytest.raises(TemplateNotFound):
            find(session, "other", "sms", "en", "en")


def test_save_rejects_invalid_templates(msg_runtime):
    with pytest.raises(TemplateProblem), msg_runtime.transaction() as session:
        templates.save_template(session, key="k", locale="en", body="{{ patient.ssn }}")


def test_appointment_in_the_patients_zone_and_language(msg_runtime, make_patient):
    pid = make_patient(tz="Asia/Jakarta", language="id")
    start = dt.datetime(2027, 3, 1, 2, 30, tzinfo=dt.UTC)  # 09:30 in Jakarta
    with msg_runtime.transaction() as session:
        appt = Appointment(
            patient_id=pid, scheduled_start=start, scheduled_end=start + dt.timedelta(minutes=30)
        )
        session.add(appt)
        session.flush()
        from core.models import Patient

        patient = session.get(Patient, pid)
        context = templates.build_context(
            session,
            patient,
            channel="sms",
            purpose="care",
            locale="id",
            clinic_timezone="UTC",
            ctx={"appointment_id": appt.id},
        ).as_dict()
    text = render_string(
        "{{ appointment.weekday }} {{ appointment.date }} {{ appointment.time }}", context
    )
    assert text == "Senin 1 Maret 2027 09.30"
