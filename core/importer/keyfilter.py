"""A Bloom filter of the identifying keys (MRN, phones, e-mails) the database holds.

Built once when an import starts and extended with each chunk it writes, it
answers "might the database already have this key?" in memory: keys it has
never seen (almost every key of a file of new patients) are not looked up in
the database at all.  False positives only cost a lookup; there are no false
negatives, so deduplication stays exact.  16 bits and 3 hashes per key: about
0.5% false positives, 2 MB per million keys.  Patients that *other* processes
create while an import runs are not in the filter: a row matching only such a
patient becomes a new record (merge them afterwards).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from core.models import ContactPoint, Patient

Key = tuple[str, str]
#: one-character prefix per kind: ``("phone", "+62...")`` is packed as ``"p+62..."``
KIND_PREFIX = {"mrn": "m", "phone": "p", "whatsapp": "w", "email": "e"}
KIND_OF_PREFIX = {prefix: kind for kind, prefix in KIND_PREFIX.items()}
_BITS_PER_KEY = 16
_HASHES = 3
_MASK = (1 << 64) - 1


def pack_key(kind: str, value: str) -> str:
    """``("phone", "+6281...")`` -> ``"p+6281..."``: one string, cheap to hash and pickle."""
    return KIND_PREFIX[kind] + value


def unpack_key(key: str) -> Key:
    """The inverse of :func:`pack_key`."""
    return KIND_OF_PREFIX[key[0]], key[1:]


class KeyFilter:
    """Set membership with false positives, in a fixed amount of memory."""

    def __init__(self, capacity: int) -> None:
        self.size = max(1 << 13, capacity * _BITS_PER_KEY)
        self.bits = bytearray((self.size + 7) // 8)

    def check_add(self, key: str) -> bool:
        """Add a packed key (:func:`pack_key`); return whether it may have been there already."""
        h = hash(key) & _MASK
        size, bits = self.size, self.bits
        step = (h >> 32) | 1
        # the _HASHES (3) positions, unrolled: this runs for every key of a file
        p1 = (h & 0xFFFFFFFF) % size
        p2 = (p1 + step) % size
        p3 = (p2 + step) % size
        b1, b2, b3 = 1 << (p1 & 7), 1 << (p2 & 7), 1 << (p3 & 7)
        p1, p2, p3 = p1 >> 3, p2 >> 3, p3 >> 3
        if bits[p1] & b1 and bits[p2] & b2 and bits[p3] & b3:
            return True
        bits[p1] |= b1
        bits[p2] |= b2
        bits[p3] |= b3
        return False

    def update(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.check_add(key)


def database_keys(session: Session, expected_new: int) -> KeyFilter:
    """A filter holding every MRN and contact point in the database, sized for more."""
    existing = (session.scalar(select(func.count()).select_from(ContactPoint)) or 0) + (
        session.scalar(select(func.count()).where(Patient.mrn.is_not(None))) or 0
    )
    keys = KeyFilter(existing + expected_new)
    if existing:
        rows = session.execute(
            text(
                "SELECT kind, value FROM contact_points "
                "UNION ALL SELECT 'mrn', mrn FROM patients WHERE mrn IS NOT NULL"
            ).execution_options(yield_per=50_000)
        )
        keys.update(pack_key(kind, value) for kind, value in rows)
    return keys
