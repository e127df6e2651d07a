"""Keyword lists: every language, forgiving matching, configuration."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from core import keywords
from core.config import Config
from core.errors import ConfigurationError
from core.i18n import SUPPORTED_LOCALES
from core.keywords import CANCEL, CONFIRM, INTENTS, OPT_IN, OPT_OUT, RESCHEDULE, Keywords

TABLE = Keywords()


def _variants(word: str) -> list[str]:
    """Ways a patient types a keyword: case, full width, punctuation, spaces, emoji."""
    full_width = "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in word)
    return [
        word,
        word.lower(),
        word.title(),
        f"  {word}  ",
        f"{word}!",
        f"{word.lower()}.",
        f"«{word}»",
        f"{word} 🙏",
        full_width,
        f"\u3000{word}\u3002",
    ]


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize("intent", INTENTS)
def test_every_language_has_words(intent: str, locale: str) -> None:
    assert TABLE.for_intent(intent, locale)


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize("intent", INTENTS)
def test_variants_match(intent: str, locale: str) -> None:
    for word in TABLE.for_intent(intent, locale):
        for variant in _variants(word):
            found = TABLE.match(variant, locale)
            assert found is not None, (intent, locale, variant)
            assert found.intent == intent, (intent, locale, variant, found)
            assert found.exact


@pytest.mark.parametrize(
    ("text", "locale", "intent"),
    [
        ("STOP", "en", OPT_OUT),
        ("ＳＴＯＰ", "en", OPT_OUT),
        ("Unsubscribe.", "en", OPT_OUT),
        ("berhenti", "id", OPT_OUT),
        ("Berhenti Berlangganan!", "id", OPT_OUT),
        ("退订", "zh", OPT_OUT),
        ("td", "zh", OPT_OUT),
        ("我要退订，谢谢", "zh", OPT_OUT),
        ("стоп", "ru", OPT_OUT),
        ("Отписаться!", "ru", OPT_OUT),
        ("Відписатися", "uk", OPT_OUT),
        ("ВІДПИСКА", "uk", OPT_OUT),
        ("수신거부", "ko", OPT_OUT),
        ("수신 거부", "ko", OPT_OUT),
        ("please stop texting me", "en", OPT_OUT),
        ("Yes", "en", CONFIRM),
        ("yes, see you then", "en", CONFIRM),
        ("IYA", "id", CONFIRM),
        ("确认", "zh", CONFIRM),
        ("好的，谢谢", "zh", CONFIRM),
        ("да", "ru", CONFIRM),
        ("Так!", "uk", CONFIRM),
        ("네", "ko", CONFIRM),
        ("Cancel", "en", CANCEL),
        ("batal", "id", CANCEL),
        ("取消", "zh", CANCEL),
        ("отмена", "ru", CANCEL),
        ("скасувати", "uk", CANCEL),
        ("취소", "ko", CANCEL),
        ("reschedule please", "en", RESCHEDULE),
        ("ubah jadwal", "id", RESCHEDULE),
        ("改期", "zh", RESCHEDULE),
        ("перенести", "ru", RESCHEDULE),
        ("Перенести", "uk", RESCHEDULE),
        ("예약 변경해주세요", "ko", RESCHEDULE),
        ("START", "en", OPT_IN),
        ("mulai", "id", OPT_IN),
    ],
)
def test_examples(text: str, locale: str, intent: str) -> None:
    found = keywords.match(text, locale)
    assert found is not None and found.intent == intent, (text, found)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "Hello, how are you?",
        "No problem, see you tomorrow",  # "no" alone would cancel; in a sentence a person reads it
        "Can I stop by tomorrow morning to pick up my results please",  # long: a person reads it
        "可以改期吗",  # confirm word and reschedule word: ambiguous
        "stopwatch",
    ],
)
def test_no_match(text: str) -> None:
    assert keywords.match(text) is None


def test_opt_out_wins_over_other_intents() -> None:
    found = keywords.match("cancel and stop")
    assert found is not None and found.intent == OPT_OUT


def test_words_are_not_ambiguous_within_a_language() -> None:
    for locale in SUPPORTED_LOCALES:
        seen: dict[str, str] = {}
        for intent in INTENTS:
            for word in TABLE.for_intent(intent, locale):
                key = keywords.normalize(word).replace(" ", "")
                assert seen.setdefault(key, intent) == intent, (locale, word)


def test_normalize() -> None:
    assert keywords.normalize("  ＳＴＯＰ！！ ") == "stop"
    assert keywords.normalize("Berhenti   Berlangganan 🙏") == "berhenti berlangganan"
    assert keywords.normalize("«Так»") == "так"
    assert unicodedata.is_normalized("NFKC", keywords.normalize("ﾃｽﾄ"))


def test_greetings() -> None:
    assert TABLE.greeting("ko", "김민수") == "김민수님, 안녕하세요."
    assert TABLE.greeting("uk", "Сергій") == "Добрий день, Сергій!"
    assert TABLE.greeting("zh-CN", None) == "您好！"
    assert TABLE.greeting("xx", "Ann") == "Hello Ann,"


def test_configuration_file_extends_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "keywords.json"
    path.write_text(
        json.dumps(
            {
                "keywords": {"opt_out": {"id": ["CABUT"]}},
                "greetings": {"id": "Selamat pagi %(name)s,"},
            }
        ),
        encoding="utf-8",
    )
    config = Config.from_env({"CARELOOP_KEYWORDS_FILE": str(path)})
    table = keywords.keywords_for(config)
    assert table.is_opt_out("cabut!", "id")
    assert table.is_opt_out("BERHENTI", "id")  # defaults kept
    assert table.greeting("id", "Budi") == "Selamat pagi Budi,"

    path.write_text(
        json.dumps({"replace": True, "keywords": {"confirm": {"en": ["AYE"]}}}), encoding="utf-8"
    )
    replaced = keywords.load(path)
    assert replaced.match("aye").intent == CONFIRM
    assert replaced.match("yes", "en") is None
    assert replaced.match("ya", "id").intent == CONFIRM  # other languages untouched


def test_bad_configuration(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigurationError):
        keywords.load(path)
    with pytest.raises(ConfigurationError):
        keywords.from_mapping({"keywords": {"shout": {"en": ["HEY"]}}})


def test_operator_opt_out_words_apply_to_every_language() -> None:
    config = Config.from_env({}, sms_optout_keywords=("HALT",))
    table = keywords.keywords_for(config)
    assert table.is_opt_out("halt!", "ko")
    assert not keywords.keywords_for(Config.from_env({})).is_opt_out("halt")


@pytest.mark.parametrize("word", ["配信停止", "STOPP", "Désabonner", "HỦY", "BAJA", "توقف"])
def test_common_opt_out_words_beyond_the_six(word: str) -> None:
    assert TABLE.is_opt_out(word)
