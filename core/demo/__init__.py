"""Demo data: a small international clinic in Bali with 1,000 patients and their history.

``careloop demo`` loads it (see :mod:`core.cli.demo`); tests call
:func:`load_demo` directly.  Everything is deterministic for a given seed and
anchor time.
"""

from core.demo.loader import (
    DEFAULT_PATIENTS,
    DEFAULT_SEED,
    DEMO_LOGINS,
    DemoLogin,
    DemoSummary,
    count_patients,
    load_demo,
)

__all__ = [
    "DEFAULT_PATIENTS",
    "DEFAULT_SEED",
    "DEMO_LOGINS",
    "DemoLogin",
    "DemoSummary",
    "count_patients",
    "load_demo",
]
