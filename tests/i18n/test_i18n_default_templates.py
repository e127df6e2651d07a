"""Default message templates: six languages, valid, replies they ask for are understood."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import keywords
from core.i18n import SUPPORTED_LOCALES
from core.messaging.default_templates import (
    APPOINTMENT_REMINDER,
    DEFAULT_TEMPLATES,
    FOLLOW_UP,
    KEYS,
    OPT_OUT_CONFIRMATION,
    SURVEY_INVITATION,
    default_template,
    seed_default_templates,
)
from core.messaging.templates import render_string, sample_context, validate_template
from core.models.outbox import MessageTemplate

#: the reply words each template asks for, by intent
ASKED = {
    APPOINTMENT_REMINDER: (keywords.CONFIRM, keywords.CANCEL, keywords.RESCHEDULE),
    FOLLOW_UP: (keywords.OPT_OUT,),
    SURVEY_INVITATION: (keywords.OPT_OUT,),
    OPT_OUT_CONFIRMATION: (keywords.OPT_IN,),
}
_QUOTED = re.compile(r"[“'«]([^”'»]+)[”'»]|\b([A-ZА-ЯІЇЄҐ]{2,}(?: [A-ZА-ЯІЇЄҐ]{2,})*)\b")


def test_every_key_in_every_language() -> None:
    have = {(t.key, t.locale) for t in DEFAULT_TEMPLATES}
    assert have == {(k, loc) for k in KEYS for loc in SUPPORTED_LOCALES}


@pytest.mark.parametrize("template", DEFAULT_TEMPLATES, ids=lambda t: f"{t.key}-{t.locale}")
def test_valid_and_renders(template) -> None:
    validate_template(template.body, template.subject)
    text = render_string(template.body, sample_context())
    assert "Siti Rahma" in text or template.key == OPT_OUT_CONFIRMATION
    assert template.subject


@pytest.mark.parametrize("template", DEFAULT_TEMPLATES, ids=lambda t: f"{t.key}-{t.locale}")
def test_reply_words_are_keywords_of_that_language(template) -> None:
    words = [a or b for a, b in _QUOTED.findall(template.body)]
    intents = set()
    for word in words:
        found = keywords.match(word, template.locale)
        if found is not None and found.exact:
            assert found.locale == template.locale or word.isascii(), (word, found)
            intents.add(found.intent)
    assert set(ASKED[template.key]) <= intents, (template.key, template.locale, words)


def test_lookup_falls_back_to_english() -> None:
    assert default_template(FOLLOW_UP, "ko-KR").locale == "ko"
    assert default_template(FOLLOW_UP, "vi").locale == "en"


def test_seed_is_idempotent_and_keeps_edits(session: Session) -> None:
    assert seed_default_templates(session) == len(DEFAULT_TEMPLATES)
    session.commit()
    row = session.scalars(
        select(MessageTemplate).where(
            MessageTemplate.key == FOLLOW_UP, MessageTemplate.locale == "uk"
        )
    ).one()
    row.body = "Edited by the clinic"
    session.commit()
    assert seed_default_templates(session) == 0
    session.commit()
    assert session.get(MessageTemplate, row.id).body == "Edited by the clinic"
    assert session.scalar(select(func.count()).select_from(MessageTemplate)) == 24
    assert seed_default_templates(session, locales=("uk",), overwrite=True) == 4
    session.commit()
    assert session.get(MessageTemplate, row.id).body.startswith("Добрий день")
