"""Opt-out keywords for inbound SMS and WhatsApp replies, per language.

A reply opts out when its whole text, trimmed of spaces and punctuation and
case-folded, is one of these words.  Operators add their own with
``CARELOOP_SMS_OPTOUT_KEYWORDS`` (comma-separated).  If core grows a shared
keyword table (``core/keywords.py``), this module should read it instead.
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Iterable

#: language tag -> words that mean "stop messaging me"
DEFAULT_OPTOUT_KEYWORDS: dict[str, tuple[str, ...]] = {
    "en": ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "OPT OUT"),
    "id": ("BERHENTI", "STOP", "BATAL"),
    "ms": ("BERHENTI", "HENTI"),
    "zh": ("退订", "取消订阅", "TD", "退訂"),
    "ru": ("СТОП", "ОТПИСАТЬСЯ"),
    "ko": ("수신거부", "거부"),
    "ja": ("停止", "配信停止"),
    "th": ("หยุด",),
    "vi": ("HUY", "HỦY", "DUNG", "DỪNG"),
    "es": ("BAJA", "PARAR", "ALTO"),
    "pt": ("PARAR", "SAIR", "CANCELAR"),
    "fr": ("ARRET", "ARRÊT", "DESABONNER", "DÉSABONNER"),
    "de": ("STOPP", "ABMELDEN"),
    "pl": ("STOP", "REZYGNUJE", "REZYGNUJĘ"),
    "ar": ("إلغاء", "توقف"),
}

_STRIP = string.whitespace + string.punctuation + "。！？、，．"


def normalise(text: str) -> str:
    """Case-fold, NFC-normalise, trim spaces and punctuation, collapse inner spaces."""
    folded = unicodedata.normalize("NFC", text).strip(_STRIP).casefold()
    return " ".join(folded.split())


def keyword_set(extra: Iterable[str] = ()) -> frozenset[str]:
    """Every opt-out keyword (defaults plus *extra*), normalised."""
    words = [w for words in DEFAULT_OPTOUT_KEYWORDS.values() for w in words]
    return frozenset(normalise(w) for w in [*words, *extra] if normalise(w))


def is_optout(text: str | None, keywords: frozenset[str]) -> bool:
    """True when the whole reply is an opt-out keyword."""
    return bool(text) and normalise(text or "") in keywords
