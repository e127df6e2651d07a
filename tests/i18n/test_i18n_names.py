"""Name order: family name first for Chinese and Korean display."""

from __future__ import annotations

import pytest

from core.formatting import format_person_name
from core.identity import compose_display_name


@pytest.mark.parametrize(
    ("given", "family", "locale", "expected"),
    [
        ("小明", "李", "zh", "李小明"),
        ("小明", "李", "en", "李小明"),  # Han script: family first in any display
        ("민수", "김", "ko", "김민수"),
        ("민수", "김", "ru", "김민수"),
        ("Xiaoming", "Wang", "zh", "Wang Xiaoming"),
        ("Minsu", "Kim", "ko", "Kim Minsu"),
        ("Xiaoming", "Wang", "en", "Xiaoming Wang"),
        ("Сергій", "Коваленко", "uk", "Сергій Коваленко"),
        ("Siti", "Rahma", "id", "Siti Rahma"),
        ("Иван", "Петров", "ru", "Иван Петров"),
        ("", "Budi", "id", "Budi"),
        ("Anna", "", "zh", "Anna"),
    ],
)
def test_display_order(given: str, family: str, locale: str, expected: str) -> None:
    assert format_person_name(given, family, locale) == expected


def test_compose_display_name_default_unchanged() -> None:
    assert compose_display_name("Xiaoming", "Wang") == "Xiaoming Wang"
    assert compose_display_name("Xiaoming", "Wang", family_first=True) == "Wang Xiaoming"
    assert compose_display_name("小明", "李", family_first=False) == "小明 李"
