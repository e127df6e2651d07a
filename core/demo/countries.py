"""Where the demo patients come from: language, time zones, cities, phones, e-mail domains.

The demo clinic is in Bali, Indonesia; most patients are local, others are
residents or visitors from China, Russia, Ukraine, Korea and English-speaking
countries.  E-mail domains use the reserved ``.example`` top-level domain so no
demo address can reach a real mailbox.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers


@dataclass(frozen=True)
class City:
    """A city with its province, time zone, postal-code pattern and street names."""

    name: str
    province: str
    time_zone: str
    postal_prefix: str
    streets: tuple[str, ...]


@dataclass(frozen=True)
class Country:
    """A country demo patients come from."""

    code: str
    language: str
    weight: float
    cities: tuple[City, ...]
    email_domains: tuple[str, ...]
    phone: Callable[[random.Random], str]
    address: Callable[[random.Random, City], str]


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


def _id_phone(rng: random.Random) -> str:
    prefix = rng.choice(
        (
            "0811",
            "0812",
            "0813",
            "0821",
            "0822",
            "0852",
            "0853",
            "0815",
            "0816",
            "0856",
            "0857",
            "0858",
            "0817",
            "0818",
            "0819",
            "0859",
            "0877",
            "0878",
            "0896",
            "0898",
        )
    )
    rest = _digits(rng, 8)
    style = rng.random()
    if style < 0.5:
        return f"{prefix}-{rest[:4]}-{rest[4:]}"
    if style < 0.8:
        return f"+62 {prefix[1:]} {rest[:4]} {rest[4:]}"
    return f"{prefix}{rest}"


def _cn_phone(rng: random.Random) -> str:
    prefix = rng.choice(
        (
            "134",
            "135",
            "136",
            "137",
            "138",
            "139",
            "150",
            "151",
            "152",
            "158",
            "159",
            "182",
            "186",
            "187",
            "188",
            "133",
            "153",
            "180",
            "189",
            "177",
        )
    )
    rest = _digits(rng, 8)
    return f"{prefix} {rest[:4]} {rest[4:]}"


def _ru_phone(rng: random.Random) -> str:
    code = rng.choice(
        (
            "903",
            "905",
            "909",
            "910",
            "912",
            "915",
            "916",
            "917",
            "921",
            "925",
            "926",
            "929",
            "960",
            "977",
            "985",
            "999",
        )
    )
    rest = _digits(rng, 7)
    if rng.random() < 0.5:
        return f"8 ({code}) {rest[:3]}-{rest[3:5]}-{rest[5:]}"
    return f"+7 {code} {rest[:3]}-{rest[3:5]}-{rest[5:]}"


def _ua_phone(rng: random.Random) -> str:
    code = rng.choice(("50", "63", "66", "67", "68", "73", "93", "95", "96", "97", "98", "99"))
    rest = _digits(rng, 7)
    if rng.random() < 0.5:
        return f"0{code} {rest[:3]} {rest[3:5]} {rest[5:]}"
    return f"+380 {code} {rest[:3]} {rest[3:5]} {rest[5:]}"


def _kr_phone(rng: random.Random) -> str:
    rest = rng.choice("23456789") + _digits(rng, 7)
    return f"010-{rest[:4]}-{rest[4:]}"


def _au_phone(rng: random.Random) -> str:
    rest = _digits(rng, 8)
    return f"04{rest[:2]} {rest[2:5]} {rest[5:]}"


def _gb_phone(rng: random.Random) -> str:
    rest = _digits(rng, 8)
    return f"07{rng.choice('4589')}{rest[:2]} {rest[2:]}"


def _sg_phone(rng: random.Random) -> str:
    rest = rng.choice("89") + _digits(rng, 7)
    return f"+65 {rest[:4]} {rest[4:]}"


def valid_phone(country: Country, rng: random.Random) -> str:
    """A phone number in a local or international format that ``phonenumbers`` accepts."""
    for _ in range(50):
        raw = country.phone(rng)
        number = phonenumbers.parse(raw, country.code)
        if phonenumbers.is_valid_number(number):
            return raw
    raise RuntimeError(f"no valid demo phone number for {country.code}")  # pragma: no cover


def _id_address(rng: random.Random, city: City) -> str:
    return f"{rng.choice(city.streets)} No. {rng.randint(1, 180)}"


def _cn_address(rng: random.Random, city: City) -> str:
    return f"{rng.choice(city.streets)}{rng.randint(1, 300)}号"


def _cyrillic_address(rng: random.Random, city: City) -> str:
    return f"{rng.choice(city.streets)}, {rng.randint(1, 120)}, кв. {rng.randint(1, 200)}"


def _kr_address(rng: random.Random, city: City) -> str:
    return f"{rng.choice(city.streets)} {rng.randint(1, 500)}"


def _en_address(rng: random.Random, city: City) -> str:
    return f"{rng.randint(1, 250)} {rng.choice(city.streets)}"


COUNTRIES: tuple[Country, ...] = (
    Country(
        "ID",
        "id",
        0.45,
        (
            City(
                "Denpasar",
                "Bali",
                "Asia/Makassar",
                "80",
                ("Jl. Teuku Umar", "Jl. Gatot Subroto", "Jl. Diponegoro"),
            ),
            City(
                "Badung",
                "Bali",
                "Asia/Makassar",
                "803",
                ("Jl. Sunset Road", "Jl. Raya Kuta", "Jl. Bypass Ngurah Rai"),
            ),
            City(
                "Jakarta Selatan",
                "DKI Jakarta",
                "Asia/Jakarta",
                "12",
                ("Jl. Fatmawati", "Jl. Kemang Raya", "Jl. TB Simatupang"),
            ),
            City(
                "Surabaya",
                "Jawa Timur",
                "Asia/Jakarta",
                "60",
                ("Jl. Darmo", "Jl. Basuki Rahmat", "Jl. Pemuda"),
            ),
            City(
                "Makassar",
                "Sulawesi Selatan",
                "Asia/Makassar",
                "90",
                ("Jl. Somba Opu", "Jl. Penghibur"),
            ),
        ),
        ("gmail.example", "yahoo.example", "telkom.example"),
        _id_phone,
        _id_address,
    ),
    Country(
        "CN",
        "zh",
        0.14,
        (
            City("北京", "北京市", "Asia/Shanghai", "100", ("朝阳区建国路", "海淀区中关村大街")),
            City("上海", "上海市", "Asia/Shanghai", "200", ("浦东新区世纪大道", "徐汇区衡山路")),
            City("广州", "广东省", "Asia/Shanghai", "510", ("天河区天河路", "越秀区中山五路")),
            City("成都", "四川省", "Asia/Shanghai", "610", ("锦江区春熙路", "武侯区人民南路")),
        ),
        ("qq.example", "163.example", "126.example"),
        _cn_phone,
        _cn_address,
    ),
    Country(
        "RU",
        "ru",
        0.12,
        (
            City(
                "Москва",
                "Москва",
                "Europe/Moscow",
                "1",
                ("ул. Тверская", "ул. Арбат", "Ленинский пр-т"),
            ),
            City(
                "Санкт-Петербург",
                "Санкт-Петербург",
                "Europe/Moscow",
                "19",
                ("Невский пр-т", "ул. Садовая"),
            ),
            City(
                "Новосибирск",
                "Новосибирская область",
                "Asia/Novosibirsk",
                "630",
                ("Красный пр-т", "ул. Ленина"),
            ),
            City(
                "Владивосток",
                "Приморский край",
                "Asia/Vladivostok",
                "690",
                ("ул. Светланская", "Океанский пр-т"),
            ),
            City(
                "Екатеринбург",
                "Свердловская область",
                "Asia/Yekaterinburg",
                "620",
                ("ул. Малышева", "ул. Ленина"),
            ),
        ),
        ("yandex.example", "mail.example"),
        _ru_phone,
        _cyrillic_address,
    ),
    Country(
        "UA",
        "uk",
        0.08,
        (
            City(
                "Київ", "Київ", "Europe/Kyiv", "0", ("вул. Хрещатик", "вул. Велика Васильківська")
            ),
            City(
                "Львів",
                "Львівська область",
                "Europe/Kyiv",
                "79",
                ("просп. Свободи", "вул. Городоцька"),
            ),
            City(
                "Одеса",
                "Одеська область",
                "Europe/Kyiv",
                "65",
                ("вул. Дерибасівська", "Французький бульвар"),
            ),
            City(
                "Харків",
                "Харківська область",
                "Europe/Kyiv",
                "61",
                ("вул. Сумська", "просп. Науки"),
            ),
        ),
        ("ukr.example", "gmail.example"),
        _ua_phone,
        _cyrillic_address,
    ),
    Country(
        "KR",
        "ko",
        0.11,
        (
            City(
                "서울",
                "서울특별시",
                "Asia/Seoul",
                "0",
                ("강남구 테헤란로", "종로구 세종대로", "마포구 양화로"),
            ),
            City("부산", "부산광역시", "Asia/Seoul", "4", ("해운대구 해운대로", "중구 중앙대로")),
            City("인천", "인천광역시", "Asia/Seoul", "2", ("연수구 컨벤시아대로", "남동구 예술로")),
        ),
        ("naver.example", "daum.example"),
        _kr_phone,
        _kr_address,
    ),
    Country(
        "AU",
        "en",
        0.05,
        (
            City("Perth", "WA", "Australia/Perth", "60", ("Hay Street", "Beaufort Street")),
            City("Sydney", "NSW", "Australia/Sydney", "20", ("George Street", "Oxford Street")),
            City(
                "Melbourne", "VIC", "Australia/Melbourne", "30", ("Collins Street", "Chapel Street")
            ),
        ),
        ("outlook.example", "bigpond.example", "gmail.example"),
        _au_phone,
        _en_address,
    ),
    Country(
        "GB",
        "en",
        0.03,
        (City("London", "Greater London", "Europe/London", "", ("Baker Street", "King's Road")),),
        ("outlook.example", "gmail.example"),
        _gb_phone,
        _en_address,
    ),
    Country(
        "SG",
        "en",
        0.02,
        (City("Singapore", "Singapore", "Asia/Singapore", "", ("Orchard Road", "Holland Avenue")),),
        ("gmail.example", "singnet.example"),
        _sg_phone,
        _en_address,
    ),
)

BY_CODE: dict[str, Country] = {c.code: c for c in COUNTRIES}


def postal_code(rng: random.Random, country: Country, city: City) -> str | None:
    """A plausible postal code: 5 digits (ID, KR, RU/UA 5-6), none for GB/SG here."""
    lengths = {"ID": 5, "CN": 6, "RU": 6, "UA": 5, "KR": 5, "AU": 4}
    length = lengths.get(country.code)
    if length is None:
        return None
    prefix = city.postal_prefix[:length]
    return prefix + _digits(rng, length - len(prefix))
