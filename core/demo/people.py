"""Demo patients: names in their own scripts, contacts, tags, conditions, lead sources.

:func:`make_people` is pure: the same seed and anchor date give the same people.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

import phonenumbers

from core.demo import names as N
from core.demo.clinic import CONDITION_DEPARTMENT, CONDITIONS, LEAD_SOURCES
from core.demo.countries import COUNTRIES, City, Country, postal_code, valid_phone
from core.identity import compose_display_name
from core.services.patients import PatientInput


@dataclass
class Guardian:
    """A parent or emergency contact of a demo patient."""

    name: str
    relationship: str
    phone: str


@dataclass
class DemoPerson:
    """One demo patient: what the registry is given, plus the story around it."""

    index: int
    country: Country
    data: PatientInput
    registered_at: dt.datetime
    department: str
    pregnant: bool = False
    guardians: list[Guardian] = field(default_factory=list)

    @property
    def language(self) -> str:
        return self.country.language

    @property
    def has_whatsapp(self) -> bool:
        return bool(self.data.whatsapp)

    @property
    def has_email(self) -> bool:
        return bool(self.data.emails)


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def pick_name(rng: random.Random, country: Country, female: bool) -> tuple[str, str, str, str]:
    """``(given, family, given_latin, family_latin)`` for someone from *country*."""
    code = country.code
    if code == "ID":
        given = rng.choice(N.ID_GIVEN_FEMALE if female else N.ID_GIVEN_MALE)
        if rng.random() < N.ID_MONONYM_SHARE:
            return given[0], "", given[1].lower(), ""
        family = rng.choice(N.ID_FAMILY)
        return given[0], family[0], given[1].lower(), family[1].lower()
    if code in ("RU", "UA"):
        givens = (
            (N.RU_GIVEN_FEMALE if female else N.RU_GIVEN_MALE)
            if code == "RU"
            else (N.UA_GIVEN_FEMALE if female else N.UA_GIVEN_MALE)
        )
        given = rng.choice(givens)
        masculine, feminine, latin = rng.choice(N.RU_FAMILY if code == "RU" else N.UA_FAMILY)
        family = feminine if female else masculine
        if female and feminine != masculine:
            latin += "a"
        return given[0], family, given[1], latin
    tables = {
        "CN": (N.CN_GIVEN_FEMALE, N.CN_GIVEN_MALE, N.CN_FAMILY),
        "KR": (N.KR_GIVEN_FEMALE, N.KR_GIVEN_MALE, N.KR_FAMILY),
    }
    g_female, g_male, families = tables.get(code, (N.EN_GIVEN_FEMALE, N.EN_GIVEN_MALE, N.EN_FAMILY))
    given = rng.choice(g_female if female else g_male)
    family = rng.choice(families)
    return given[0], family[0], given[1], family[1]


def _birth_date(rng: random.Random, anchor: dt.date, min_age: int, max_age: int) -> dt.date:
    days = rng.randint(min_age * 365 + 1, max_age * 365 + 300)
    return anchor - dt.timedelta(days=days)


def _conditions(rng: random.Random, age: int, pregnant: bool) -> list[str]:
    chances = {
        "E11": 0.17 if age >= 40 else 0.02,
        "I10": 0.28 if age >= 40 else 0.03,
        "E78": 0.16 if age >= 45 else 0.02,
        "I25": 0.07 if age >= 55 else 0.0,
        "J45": 0.07,
        "K21": 0.08 if age >= 18 else 0.01,
        "E66": 0.08 if age >= 18 else 0.03,
        "J30": 0.1,
        "K02": 0.18,
    }
    codes = [code for code, chance in chances.items() if rng.random() < chance]
    if pregnant:
        codes.append("Z34")
        if rng.random() < 0.15:
            codes.append("O24")
    return codes


def _tags(
    rng: random.Random, person_country: str, age: int, codes: list[str], pregnant: bool
) -> list[str]:
    tags: list[str] = []
    if rng.random() < 0.05:
        tags.append("vip")
    if age >= 22 and rng.random() < 0.1:
        tags.append("corporate")
    if rng.random() < 0.4:
        tags.append("insured")
    if person_country != "ID" and rng.random() < 0.5:
        tags.append("medical-tourist")
    if rng.random() < 0.25:
        tags.append("newsletter")
    if "E11" in codes and rng.random() < 0.6:
        tags.append("diabetes-program")
    if pregnant and rng.random() < 0.5:
        tags.append("prenatal-class")
    if person_country in ("CN", "RU", "UA", "KR") and rng.random() < 0.3:
        tags.append("needs-interpreter")
    if rng.random() < 0.1:
        tags.append("family-plan")
    return tags


class _Unique:
    """Keeps phones (as E.164) and e-mails unique across the demo population."""

    def __init__(self) -> None:
        self.phones: set[str] = set()
        self.emails: set[str] = set()

    def phone(self, rng: random.Random, country: Country) -> str:
        while True:
            raw = valid_phone(country, rng)
            e164 = phonenumbers.format_number(
                phonenumbers.parse(raw, country.code), phonenumbers.PhoneNumberFormat.E164
            )
            if e164 not in self.phones:
                self.phones.add(e164)
                return raw

    def email(self, rng: random.Random, local: str, country: Country) -> str:
        domain = rng.choice(country.email_domains)
        address = f"{local}@{domain}"
        while address in self.emails:
            address = f"{local}{rng.randint(1, 9999)}@{domain}"
        self.emails.add(address)
        return address


def make_people(count: int, seed: int, anchor: dt.date) -> list[DemoPerson]:
    """*count* demo patients, the same for the same *seed* and *anchor* date."""
    rng = random.Random(seed)
    unique = _Unique()
    weights = [c.weight for c in COUNTRIES]
    people: list[DemoPerson] = []
    for index in range(1, count + 1):
        country = rng.choices(COUNTRIES, weights=weights)[0]
        people.append(_make_person(rng, unique, index, country, anchor))
    return people


def _make_person(
    rng: random.Random, unique: _Unique, index: int, country: Country, anchor: dt.date
) -> DemoPerson:
    female = rng.random() < 0.52
    child = rng.random() < 0.14
    birth = _birth_date(rng, anchor, 0, 17) if child else _birth_date(rng, anchor, 18, 86)
    age = (anchor - birth).days // 365
    pregnant = female and 20 <= age <= 42 and rng.random() < 0.12
    given, family, given_latin, family_latin = pick_name(rng, country, female)
    city: City = rng.choice(country.cities)
    codes = _conditions(rng, age, pregnant)
    is_lead = rng.random() < 0.07
    lead_source = _weighted(rng, LEAD_SOURCES)
    if country.code != "ID" and rng.random() < 0.2:
        lead_source = "hotel_concierge"
    phones = [unique.phone(rng, country)]
    if rng.random() < 0.08:
        phones.append(unique.phone(rng, country))
    whatsapp_share = {"ID": 0.88, "CN": 0.15, "KR": 0.25}.get(country.code, 0.65)
    whatsapp = [phones[0]] if rng.random() < whatsapp_share else []
    emails: list[str] = []
    if not child and rng.random() < 0.8:
        local = ".".join(p for p in (given_latin, family_latin) if p)
        emails.append(unique.email(rng, local, country))
    department = "paediatrics" if child else "internal_medicine"
    if pregnant:
        department = "obstetrics"
    elif codes and not child:
        department = CONDITION_DEPARTMENT[rng.choice(codes)]
    elif not child:
        department = rng.choice(("internal_medicine", "dentistry", "cardiology", "dentistry"))
    days_ago = rng.randint(1, 60) if is_lead else rng.randint(30, 3 * 365)
    registered = dt.datetime.combine(
        anchor - dt.timedelta(days=days_ago), dt.time(rng.randint(1, 12), rng.randint(0, 59))
    ).replace(tzinfo=dt.UTC)
    external_ids: dict[str, str] = {}
    tags = _tags(rng, country.code, age, codes, pregnant)
    if country.code == "ID" and "insured" in tags:
        external_ids["bpjs"] = f"000{rng.randint(1000, 9999)}{index:06d}"
    data = PatientInput(
        given_name=given,
        family_name=family,
        mrn=None if is_lead else f"CL-{index:06d}",
        birth_date=birth,
        sex="female" if female else "male",
        preferred_language=country.language,
        time_zone=city.time_zone,
        address_line=country.address(rng, city),
        city=city.name,
        province=city.province,
        postal_code=postal_code(rng, country, city),
        country=country.code,
        lead_source=lead_source,
        is_lead=is_lead,
        phones=phones,
        emails=emails,
        whatsapp=whatsapp,
        region=country.code,
        tags=tags,
        conditions=[(code, CONDITIONS[code]) for code in codes],
        external_ids=external_ids,
    )
    person = DemoPerson(index, country, data, registered, department, pregnant)
    if child or rng.random() < 0.2:
        parent_female = rng.random() < 0.6
        p_given, p_family, _, _ = pick_name(rng, country, parent_female)
        if child and family and country.code not in ("RU", "UA"):
            p_family = family
        relationship = ("mother" if parent_female else "father") if child else "spouse"
        person.guardians.append(
            Guardian(
                compose_display_name(p_given, p_family), relationship, unique.phone(rng, country)
            )
        )
    return person
