"""Message texts of the demo interactions, in each patient's language.

``messages.json`` holds them: ``TEXTS[key][language]`` is ``(subject, body)``;
bodies may use ``{name}``, ``{doctor}``, ``{date}`` and ``{time}``.
"""

from __future__ import annotations

import json
from pathlib import Path

Text = tuple[str, str]

TEXTS: dict[str, dict[str, Text]] = {
    key: {lang: (pair[0], pair[1]) for lang, pair in by_lang.items()}
    for key, by_lang in json.loads(
        (Path(__file__).parent / "messages.json").read_text(encoding="utf-8")
    ).items()
}

#: call outcomes with (weight, (min, max) duration in seconds); 0 means not answered
CALL_OUTCOMES: dict[str, tuple[float, tuple[int, int]]] = {
    "answered": (0.35, (45, 600)),
    "booked_appointment": (0.2, (120, 480)),
    "no_answer": (0.18, (0, 0)),
    "busy": (0.06, (0, 0)),
    "voicemail": (0.08, (20, 60)),
    "callback_requested": (0.08, (30, 120)),
    "wrong_number": (0.02, (10, 30)),
    "information_given": (0.03, (60, 300)),
}

#: what staff write in notes and consultation records (internal, English)
NOTES: tuple[str, ...] = (
    "Patient prefers morning appointments.",
    "Asked for the price list of the executive check-up.",
    "Insurance pre-authorisation requested.",
    "Family member will accompany the patient.",
    "Prefers to be contacted on WhatsApp.",
    "Needs an interpreter at the next visit.",
)


def text(key: str, language: str, **values: str) -> tuple[str, str]:
    """The subject and body of *key* in *language* (English when missing), filled in."""
    by_language = TEXTS[key]
    subject, body = by_language.get(language) or by_language["en"]
    return subject, body.format(**values)
