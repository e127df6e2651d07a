"""The demo clinic's directory: departments, doctors, services and their prices.

Prices are set in Indonesian rupiah and converted, with round numbers, into
the configured ``CARELOOP_CURRENCY`` using the rough rates below (a demo, not
a price list).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class DemoDepartment:
    code: str
    name: str


@dataclass(frozen=True)
class DemoDoctor:
    department: str
    name: str
    specialties: tuple[str, ...]
    languages: tuple[str, ...]


@dataclass(frozen=True)
class DemoService:
    department: str
    code: str
    name: str
    price_idr: int
    minutes: int


DEPARTMENTS: tuple[DemoDepartment, ...] = (
    DemoDepartment("cardiology", "Cardiology"),
    DemoDepartment("paediatrics", "Paediatrics"),
    DemoDepartment("internal_medicine", "Internal Medicine"),
    DemoDepartment("dentistry", "Dentistry"),
    DemoDepartment("obstetrics", "Obstetrics & Gynaecology"),
)

DOCTORS: tuple[DemoDoctor, ...] = (
    DemoDoctor(
        "cardiology",
        "dr. Andi Wijaya, Sp.JP",
        ("interventional cardiology", "echocardiography"),
        ("id", "en"),
    ),
    DemoDoctor("cardiology", "Dr. Chen Wei", ("heart failure", "hypertension"), ("zh", "en", "id")),
    DemoDoctor(
        "paediatrics", "dr. Ni Made Ayu Lestari, Sp.A", ("neonatology", "vaccination"), ("id", "en")
    ),
    DemoDoctor(
        "paediatrics", "Dr. Olena Shevchenko", ("paediatric allergy", "asthma"), ("uk", "ru", "en")
    ),
    DemoDoctor(
        "internal_medicine", "dr. Budi Santoso, Sp.PD", ("diabetes", "endocrinology"), ("id", "en")
    ),
    DemoDoctor(
        "internal_medicine",
        "Dr. Sergei Volkov",
        ("gastroenterology", "general internal medicine"),
        ("ru", "uk", "en"),
    ),
    DemoDoctor("internal_medicine", "Dr. Kim Ji-hoon", ("pulmonology", "check-ups"), ("ko", "en")),
    DemoDoctor("dentistry", "drg. Putu Sudarsana", ("implants", "oral surgery"), ("id", "en")),
    DemoDoctor(
        "dentistry", "Dr. Park Seo-yeon", ("orthodontics", "cosmetic dentistry"), ("ko", "en", "zh")
    ),
    DemoDoctor(
        "obstetrics",
        "dr. Dewi Kusuma, Sp.OG",
        ("high-risk pregnancy", "antenatal care"),
        ("id", "en"),
    ),
    DemoDoctor("obstetrics", "Dr. Emily Clarke", ("fertility", "gynaecology"), ("en",)),
)

SERVICES: tuple[DemoService, ...] = (
    DemoService("cardiology", "CARD-CONSULT", "Cardiology consultation", 350_000, 30),
    DemoService("cardiology", "CARD-ECG", "Electrocardiogram (ECG)", 200_000, 20),
    DemoService("cardiology", "CARD-ECHO", "Echocardiography", 1_250_000, 45),
    DemoService("paediatrics", "PAED-CONSULT", "Paediatric consultation", 300_000, 30),
    DemoService("paediatrics", "PAED-VACC", "Childhood vaccination", 450_000, 15),
    DemoService("internal_medicine", "IM-CONSULT", "Internal medicine consultation", 300_000, 30),
    DemoService("internal_medicine", "IM-DIABETES", "Diabetes check-up package", 750_000, 60),
    DemoService("internal_medicine", "IM-CHECKUP", "Executive health check-up", 2_500_000, 120),
    DemoService("dentistry", "DENT-SCALE", "Dental scaling and cleaning", 500_000, 45),
    DemoService("dentistry", "DENT-FILL", "Tooth filling", 650_000, 45),
    DemoService("dentistry", "DENT-EXTRACT", "Tooth extraction", 900_000, 60),
    DemoService("obstetrics", "OBS-ANC", "Antenatal check-up", 400_000, 30),
    DemoService("obstetrics", "OBS-USG", "Obstetric ultrasound", 600_000, 30),
)

#: ICD-10 categories with English labels, and who tends to have them
CONDITIONS: dict[str, str] = {
    "E11": "Type 2 diabetes mellitus",
    "I10": "Essential (primary) hypertension",
    "J45": "Asthma",
    "E78": "Disorders of lipoprotein metabolism (hyperlipidaemia)",
    "I25": "Chronic ischaemic heart disease",
    "K21": "Gastro-oesophageal reflux disease",
    "E66": "Obesity",
    "J30": "Allergic rhinitis",
    "K02": "Dental caries",
    "Z34": "Supervision of normal pregnancy",
    "O24": "Diabetes mellitus in pregnancy",
}

#: condition code -> department that treats it
CONDITION_DEPARTMENT: dict[str, str] = {
    "E11": "internal_medicine",
    "I10": "cardiology",
    "J45": "internal_medicine",
    "E78": "cardiology",
    "I25": "cardiology",
    "K21": "internal_medicine",
    "E66": "internal_medicine",
    "J30": "internal_medicine",
    "K02": "dentistry",
    "Z34": "obstetrics",
    "O24": "obstetrics",
}

#: first-touch lead sources and their weights
LEAD_SOURCES: dict[str, float] = {
    "walk_in": 0.18,
    "referral": 0.16,
    "google_ads": 0.14,
    "instagram": 0.13,
    "whatsapp_click": 0.12,
    "website": 0.09,
    "facebook": 0.06,
    "tiktok": 0.04,
    "insurance_partner": 0.05,
    "hotel_concierge": 0.03,
}

TAGS: tuple[str, ...] = (
    "vip",
    "corporate",
    "insured",
    "medical-tourist",
    "newsletter",
    "diabetes-program",
    "prenatal-class",
    "needs-interpreter",
    "family-plan",
)

#: rough units of each currency per 1,000,000 IDR, and the rounding step
_RATES: dict[str, tuple[Decimal, Decimal]] = {
    "IDR": (Decimal(1_000_000), Decimal(5_000)),
    "USD": (Decimal("63"), Decimal("1")),
    "EUR": (Decimal("58"), Decimal("1")),
    "GBP": (Decimal("50"), Decimal("1")),
    "AUD": (Decimal("96"), Decimal("1")),
    "SGD": (Decimal("84"), Decimal("1")),
    "CNY": (Decimal("450"), Decimal("5")),
    "KRW": (Decimal("86000"), Decimal("1000")),
    "RUB": (Decimal("5600"), Decimal("50")),
    "UAH": (Decimal("2600"), Decimal("10")),
    "JPY": (Decimal("9500"), Decimal("100")),
    "MYR": (Decimal("290"), Decimal("5")),
    "THB": (Decimal("2200"), Decimal("10")),
}


def price_in(currency: str, price_idr: int) -> Decimal:
    """*price_idr* in *currency*, rounded to a friendly step (USD rates for unknown codes)."""
    per_million, step = _RATES.get(currency.upper(), _RATES["USD"])
    raw = Decimal(price_idr) * per_million / Decimal(1_000_000)
    rounded = (raw / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step
    return max(rounded, step).quantize(Decimal("0.01"))
