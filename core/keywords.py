"""Words that change behaviour, per language: opt-out, opt-in, reminder replies, greetings.

Defaults cover the six shipped languages.  A clinic adds or replaces words with
a JSON file named by ``CARELOOP_KEYWORDS_FILE`` (``Config.keywords_file``)::

    {
      "replace": false,
      "keywords": {"opt_out": {"id": ["CABUT"]}, "confirm": {"ko": ["ㅇㅇ"]}},
      "greetings": {"id": "Selamat pagi %(name)s,"}
    }

With ``"replace": false`` (the default) listed words are added to the
defaults; with ``true`` each listed intent-and-language list replaces the
default one.  Matching is forgiving: NFKC (full-width ``ＳＴＯＰ`` is
``STOP``), case-folding, surrounding punctuation, emoji and spaces ignored.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ConfigurationError

if TYPE_CHECKING:
    from core.config import Config

OPT_OUT = "opt_out"
OPT_IN = "opt_in"
CONFIRM = "confirm"
CANCEL = "cancel"
RESCHEDULE = "reschedule"
#: Intents in priority order: an opt-out always wins (never send to someone who asked
#: us to stop), then the reminder replies, then opt-in.
INTENTS: tuple[str, ...] = (OPT_OUT, CANCEL, RESCHEDULE, CONFIRM, OPT_IN)
#: Only messages up to this many words (or CJK characters) are read for keywords
#: inside them; longer ones go to a person.
MAX_WORDS = 6
MAX_CJK_CHARS = 12

DEFAULT_KEYWORDS: dict[str, dict[str, tuple[str, ...]]] = {
    OPT_OUT: {
        "en": ("STOP", "STOPALL", "UNSUBSCRIBE", "OPT OUT", "OPTOUT", "END", "QUIT", "REVOKE"),
        "id": (
            "BERHENTI",
            "STOP",
            "HENTIKAN",
            "BERHENTI BERLANGGANAN",
            "BATAL LANGGANAN",
            "UNREG",
            "JANGAN KIRIM",
        ),
        "zh": ("退订", "TD", "取消订阅", "停止", "退订短信", "不要再发", "退訂"),
        "ru": ("СТОП", "ОТПИСАТЬСЯ", "ОТПИСКА", "ОТКАЗАТЬСЯ ОТ РАССЫЛКИ", "НЕ ПИСАТЬ"),
        "uk": ("СТОП", "ВІДПИСАТИСЯ", "ВІДПИСКА", "ВІДМОВИТИСЯ ВІД РОЗСИЛКИ", "НЕ ПИСАТИ"),
        "ko": ("수신거부", "수신 거부", "수신중지", "구독취소", "거부", "중지", "그만"),
        # beyond the six shipped languages: common carrier opt-out words
        "ms": ("BERHENTI", "HENTI"),
        "ja": ("停止", "配信停止"),
        "th": ("หยุด",),
        "vi": ("HUY", "HỦY", "DUNG", "DỪNG"),
        "es": ("BAJA", "PARAR", "ALTO"),
        "pt": ("PARAR", "SAIR", "CANCELAR"),
        "fr": ("ARRET", "ARRÊT", "DESABONNER", "DÉSABONNER"),
        "de": ("STOPP", "ABMELDEN"),
        "pl": ("REZYGNUJE", "REZYGNUJĘ"),
        "ar": ("إلغاء", "توقف"),
    },
    OPT_IN: {
        "en": ("START", "UNSTOP", "SUBSCRIBE"),
        "id": ("MULAI", "BERLANGGANAN", "START"),
        "zh": ("订阅", "开始", "重新订阅"),
        "ru": ("СТАРТ", "ПОДПИСАТЬСЯ", "ВОЗОБНОВИТЬ"),
        "uk": ("СТАРТ", "ПІДПИСАТИСЯ", "ПОНОВИТИ"),
        "ko": ("수신동의", "구독", "시작"),
    },
    CONFIRM: {
        "en": ("YES", "Y", "CONFIRM", "CONFIRMED", "OK", "OKAY", "SURE"),
        "id": ("YA", "IYA", "Y", "KONFIRMASI", "OK", "OKE", "SIAP", "HADIR", "BAIK"),
        "zh": ("是", "是的", "确认", "好", "好的", "可以", "会来", "准时到"),
        "ru": ("ДА", "Д", "ПОДТВЕРЖДАЮ", "ПОДТВЕРДИТЬ", "ОК", "ХОРОШО", "ПРИДУ"),
        "uk": ("ТАК", "Т", "ПІДТВЕРДЖУЮ", "ПІДТВЕРДИТИ", "ОК", "ДОБРЕ", "ПРИЙДУ"),
        "ko": ("예", "네", "확인", "좋아요", "참석", "참석합니다"),
    },
    CANCEL: {
        "en": ("CANCEL", "NO", "N", "CANNOT COME", "CAN'T COME"),
        "id": ("BATAL", "BATALKAN", "TIDAK", "TIDAK BISA DATANG", "TIDAK HADIR"),
        "zh": ("取消", "取消预约", "否", "不来了", "来不了"),
        "ru": ("ОТМЕНА", "ОТМЕНИТЬ", "НЕТ", "Н", "НЕ ПРИДУ"),
        "uk": ("СКАСУВАТИ", "СКАСУВАННЯ", "НІ", "Н", "НЕ ПРИЙДУ"),
        "ko": ("취소", "예약취소", "아니요", "아니오", "불참"),
    },
    RESCHEDULE: {
        "en": ("RESCHEDULE", "CHANGE", "MOVE", "ANOTHER TIME"),
        "id": ("UBAH JADWAL", "GANTI JADWAL", "JADWAL ULANG", "RESCHEDULE", "PINDAH JADWAL"),
        "zh": ("改期", "改约", "改时间", "换时间", "更改预约"),
        "ru": ("ПЕРЕНЕСТИ", "ПЕРЕНОС", "ДРУГОЕ ВРЕМЯ", "ПЕРЕЗАПИСАТЬСЯ"),
        "uk": ("ПЕРЕНЕСТИ", "ПЕРЕНЕСЕННЯ", "ІНШИЙ ЧАС", "ПЕРЕЗАПИСАТИСЯ"),
        "ko": ("변경", "일정변경", "예약변경", "날짜변경", "시간변경"),
    },
}

#: Opening lines of message templates; ``%(name)s`` is the patient's display name.
DEFAULT_GREETINGS: dict[str, str] = {
    "en": "Hello %(name)s,",
    "id": "Halo Bapak/Ibu %(name)s,",
    "zh": "尊敬的%(name)s，您好！",
    "ru": "Здравствуйте, %(name)s!",
    "uk": "Добрий день, %(name)s!",
    "ko": "%(name)s님, 안녕하세요.",
}
#: The same without a name (a lead we only know by phone number).
DEFAULT_GREETINGS_NO_NAME: dict[str, str] = {
    "en": "Hello,",
    "id": "Halo Bapak/Ibu,",
    "zh": "您好！",
    "ru": "Здравствуйте!",
    "uk": "Добрий день!",
    "ko": "안녕하세요.",
}

_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Fold *text* for matching: NFKC, case-fold, one space between words,
    punctuation, symbols and emoji trimmed from both ends."""
    folded = unicodedata.normalize("NFKC", text or "").casefold()
    folded = _SPACE.sub(" ", folded).strip()
    start, end = 0, len(folded)
    while start < end and _is_trim(folded[start]):
        start += 1
    while end > start and _is_trim(folded[end - 1]):
        end -= 1
    return folded[start:end]


def _is_trim(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] in "PSZC" and char != "'"


def _compact(text: str) -> str:
    """The normalised form without spaces: ``수신 거부`` matches ``수신거부``."""
    return normalize(text).replace(" ", "")


def _is_cjk(text: str) -> bool:
    return any(unicodedata.name(ch, "").startswith(("CJK", "HANGUL")) for ch in text)


@dataclass(frozen=True)
class KeywordMatch:
    """Which intent a message expresses, in which language, through which word."""

    intent: str
    locale: str
    keyword: str
    exact: bool


@dataclass
class Keywords:
    """A keyword table (defaults plus the clinic's own) and the matcher over it."""

    words: dict[str, dict[str, tuple[str, ...]]] = field(
        default_factory=lambda: {intent: dict(langs) for intent, langs in DEFAULT_KEYWORDS.items()}
    )
    greetings: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_GREETINGS))
    greetings_no_name: dict[str, str] = field(
        default_factory=lambda: dict(DEFAULT_GREETINGS_NO_NAME)
    )

    def __post_init__(self) -> None:
        self._index: dict[str, list[tuple[str, str, str]]] = {}
        for intent in INTENTS:
            for locale, keywords in self.words.get(intent, {}).items():
                for keyword in keywords:
                    key = _compact(keyword)
                    if key:
                        self._index.setdefault(key, []).append((intent, locale, keyword))
        #: keys searched for inside Chinese and Korean text (two characters or more)
        self._cjk_keys = [key for key in self._index if len(key) >= 2 and _is_cjk(key)]

    def for_intent(self, intent: str, locale: str | None = None) -> tuple[str, ...]:
        """The words of *intent*, for one language or (``None``) all of them."""
        by_locale = self.words.get(intent, {})
        if locale is not None:
            return by_locale.get(locale.split("-")[0], ())
        return tuple(word for words in by_locale.values() for word in words)

    def match(self, text: str, locale: str | None = None) -> KeywordMatch | None:
        """The intent *text* expresses, or ``None``.

        The whole message equal to a keyword wins.  A short message (up to
        :data:`MAX_WORDS` words, or :data:`MAX_CJK_CHARS` for Chinese and Korean)
        that holds keywords of one intent only also matches (``Yes, see you`` ->
        confirm); an opt-out word anywhere in it wins over the others; words of
        conflicting intents give ``None`` so a person reads it.  *locale* breaks
        ties between languages sharing a word.
        """
        whole = _compact(text)
        if not whole:
            return None
        if whole in self._index:
            return self._best(self._index[whole], locale, exact=True)
        found = self._inside(normalize(text))
        if not found:
            return None
        intents = {intent for intent, _, _ in found}
        if OPT_OUT in intents:
            return self._best([f for f in found if f[0] == OPT_OUT], locale, exact=False)
        if len(intents) == 1:
            return self._best(found, locale, exact=False)
        return None

    def _inside(self, text: str) -> list[tuple[str, str, str]]:
        """Keywords inside a short message.

        Opt-out words count anywhere (when in doubt, stop).  Words acting on an
        appointment count only at the start and when at least three letters long
        (``Yes, see you`` confirms; ``No problem`` is left to a person).  Chinese
        and Korean, written without spaces, are searched for words of two or more
        characters.
        """
        found: list[tuple[str, str, str]] = []
        words = [w for w in (normalize(part) for part in text.split(" ")) if w]
        if len(words) <= MAX_WORDS:
            for size in (1, 2, 3):
                for start in range(len(words) - size + 1):
                    key = "".join(words[start : start + size])
                    for entry in self._index.get(key, ()):
                        if entry[0] == OPT_OUT or (start == 0 and len(key) >= 3):
                            found.append(entry)
        compact = text.replace(" ", "")
        if _is_cjk(compact) and len(compact) <= MAX_CJK_CHARS:
            for key in self._cjk_keys:
                if key in compact:
                    found.extend(self._index[key])
        # a one-letter keyword (Y, N, Д) counts only as the whole message
        return [entry for entry in found if entry[0] != OPT_IN and len(entry[2].strip()) > 1]

    @staticmethod
    def _best(entries: list[tuple[str, str, str]], locale: str | None, exact: bool) -> KeywordMatch:
        wanted = (locale or "").split("-")[0]

        def rank(entry: tuple[str, str, str]) -> tuple[int, int, int]:
            intent, entry_locale, keyword = entry
            return (INTENTS.index(intent), entry_locale != wanted, -len(keyword))

        intent, entry_locale, keyword = min(entries, key=rank)
        return KeywordMatch(intent, entry_locale, keyword, exact)

    def is_opt_out(self, text: str, locale: str | None = None) -> bool:
        """True when *text* asks us to stop messaging."""
        found = self.match(text, locale)
        return found is not None and found.intent == OPT_OUT

    def greeting(self, locale: str | None, name: str | None = None) -> str:
        """The greeting line for *locale*, with *name* when known."""
        base = (locale or "en").split("-")[0]
        if name:
            template = self.greetings.get(base) or self.greetings["en"]
            return template % {"name": name}
        return self.greetings_no_name.get(base) or self.greetings_no_name["en"]


def load(path: str | Path | None) -> Keywords:
    """Defaults, extended or replaced by the JSON file at *path* (see the module doc)."""
    if not path:
        return Keywords()
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"CARELOOP_KEYWORDS_FILE={str(path)!r} cannot be read as JSON: {exc}"
        ) from exc
    return from_mapping(data)


def from_mapping(data: dict[str, Any]) -> Keywords:
    """Defaults merged with a mapping shaped like the keywords file."""
    replace = bool(data.get("replace", False))
    words = {intent: dict(langs) for intent, langs in DEFAULT_KEYWORDS.items()}
    for intent, by_locale in (data.get("keywords") or {}).items():
        if intent not in INTENTS:
            raise ConfigurationError(f"keywords file: unknown intent {intent!r}")
        for locale, listed in by_locale.items():
            extra = tuple(str(word) for word in listed)
            current = () if replace else words[intent].get(locale, ())
            words[intent][locale] = current + tuple(w for w in extra if w not in current)
    greetings = dict(DEFAULT_GREETINGS)
    greetings.update(data.get("greetings") or {})
    no_name = dict(DEFAULT_GREETINGS_NO_NAME)
    no_name.update(data.get("greetings_no_name") or {})
    return Keywords(words=words, greetings=greetings, greetings_no_name=no_name)


_CACHE: dict[str, Keywords] = {}


def keywords_for(config: Config | None = None) -> Keywords:
    """The keyword table of *config*: defaults, its ``keywords_file`` and, as extra
    opt-out words of every language, ``CARELOOP_SMS_OPTOUT_KEYWORDS``."""
    path = str(getattr(config, "keywords_file", "") or "")
    extra = tuple(getattr(config, "sms_optout_keywords", ()) or ())
    key = path + "\x00" + "|".join(extra)
    if key not in _CACHE:
        table = load(path)
        if extra:
            words = {intent: dict(langs) for intent, langs in table.words.items()}
            words[OPT_OUT]["*"] = extra
            table = Keywords(words, table.greetings, table.greetings_no_name)
        _CACHE[key] = table
    return _CACHE[key]


def match(
    text: str, locale: str | None = None, config: Config | None = None
) -> KeywordMatch | None:
    """Shortcut: :meth:`Keywords.match` with *config*'s table."""
    return keywords_for(config).match(text, locale)
