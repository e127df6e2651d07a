"""Plural forms: Russian and Ukrainian have three, Chinese and Korean one."""

from __future__ import annotations

import pytest

from core import formatting, i18n

# 1, 21 -> one; 2, 22 -> few; 5, 11, 25 -> many
CASES = {
    "ru": {
        1: "1 пациент",
        21: "21 пациент",
        2: "2 пациента",
        22: "22 пациента",
        5: "5 пациентов",
        25: "25 пациентов",
        11: "11 пациентов",
    },
    "uk": {
        1: "1 пацієнт",
        21: "21 пацієнт",
        2: "2 пацієнти",
        22: "22 пацієнти",
        5: "5 пацієнтів",
        25: "25 пацієнтів",
        11: "11 пацієнтів",
    },
}


@pytest.mark.parametrize("locale", ["ru", "uk"])
@pytest.mark.parametrize("num", [1, 2, 5, 21, 22, 25, 11])
def test_slavic_three_plural_forms(locale: str, num: int) -> None:
    with i18n.use_locale(locale):
        assert formatting.count_patients(num) == CASES[locale][num]


@pytest.mark.parametrize("locale", ["ru", "uk"])
def test_three_distinct_forms_in_catalogue(locale: str) -> None:
    with i18n.use_locale(locale):
        forms = {formatting.count_patients(n).split(" ", 1)[1] for n in (1, 2, 5)}
    assert len(forms) == 3


def test_days_in_ukrainian_and_russian() -> None:
    with i18n.use_locale("uk"):
        assert [formatting.in_days(n) for n in (1, 3, 12)] == [
            "через 1 день",
            "через 3 дні",
            "через 12 днів",
        ]
    with i18n.use_locale("ru"):
        assert formatting.in_days(24) == "через 24 дня"


@pytest.mark.parametrize("locale", ["zh", "ko", "id"])
def test_one_form_languages(locale: str) -> None:
    with i18n.use_locale(locale):
        one, many = formatting.count_patients(1), formatting.count_patients(7)
    assert one.replace("1", "7") == many
    assert "patient" not in one


def test_english_singular_and_plural() -> None:
    with i18n.use_locale("en"):
        assert formatting.count_patients(1) == "1 patient"
        assert formatting.count_patients(0) == "0 patients"
