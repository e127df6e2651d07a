"""Parsed chunks packed as strings, so the main process touches rows as little as it can.

On PostgreSQL a worker process sends back, instead of :class:`ParsedRow` objects
(slow to pickle and to rebuild), each good row's identifying keys, its
``COPY`` lines as :meth:`str.format` templates of ``(id, timestamp)`` and its
tag and condition names.  Most rows of a file are new patients sharing no key
with anything: the main process checks their keys against the
:class:`~core.importer.keyfilter.KeyFilter` and writes their templates as they
are (*fast* rows).  A row that may match the database, an uncommitted chunk or
another row of its chunk is parsed again in the main process from its cells
(the same deterministic :func:`~core.importer.rows.parse_with`) and planned
as a :class:`ParsedRow` like before (*slow* rows; about 1% of a typical file).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from core.importer.copytext import templates
from core.importer.keyfilter import KIND_PREFIX, Key, pack_key
from core.importer.rows import ParsedRow, Reject

_MRN, _PHONE, _WHATSAPP, _EMAIL = (KIND_PREFIX[k] for k in ("mrn", "phone", "whatsapp", "email"))


@dataclass(slots=True)
class PackedChunk:
    """A parsed chunk as the worker sends it; index ``i`` is the chunk's ``i``-th good row."""

    rejects: list[Reject] = field(default_factory=list)
    #: position of each good row in the chunk's records
    positions: array = field(default_factory=lambda: array("I"))
    #: packed keys (:func:`~core.importer.keyfilter.pack_key`) of each good row
    keys: list[tuple[str, ...]] = field(default_factory=list)
    #: the rows that share a key with another row of the chunk
    shared: set[int] = field(default_factory=set)
    #: ``COPY`` templates of ``(id, timestamp)``: the patient line, its contact lines
    patients: list[str] = field(default_factory=list)
    contacts: list[str] = field(default_factory=list)
    tags: list[tuple[str, ...]] = field(default_factory=list)
    #: ``(code, label)`` pairs of each row
    conditions: list[tuple[tuple[str, str], ...]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rejects) + len(self.positions)


def pack(parsed: list[ParsedRow | Reject]) -> PackedChunk:
    """Pack a worker's parsed chunk (in the worker process)."""
    out = PackedChunk()
    seen: set[str] = set()
    repeated: set[str] = set()
    for position, item in enumerate(parsed):
        if isinstance(item, Reject):
            out.rejects.append(item)
            continue
        keys = (
            *((_MRN + item.mrn,) if item.mrn else ()),
            *[_PHONE + v for v in item.phones],
            *[_WHATSAPP + v for v in item.whatsapp],
            *[_EMAIL + v for v in item.emails],
        )  # pack_key of ParsedRow.keys(), inlined
        for key in keys:
            if key in seen:
                repeated.add(key)
            else:
                seen.add(key)
        out.positions.append(position)
        out.keys.append(keys)
        patient, contacts = templates(item)
        out.patients.append(patient)
        out.contacts.append(contacts)
        out.tags.append(tuple(item.tags))
        out.conditions.append(tuple(item.conditions))
    if repeated:
        out.shared = {i for i, keys in enumerate(out.keys) if not repeated.isdisjoint(keys)}
    return out


class FastRows:
    """A chunk's fast rows: written from their templates, found by key while uncommitted.

    *parse* rebuilds the :class:`ParsedRow` of a record (the worker's parse, run
    again) when a later chunk duplicates one of these rows before it commits;
    the rebuilt row gets the patient's id once the chunk is written.
    """

    def __init__(
        self,
        chunk: PackedChunk,
        indexes: list[int],
        records: list[tuple[int, list[str] | None, str]],
        parse: Callable[[tuple[int, list[str] | None, str]], ParsedRow],
    ) -> None:
        self.chunk = chunk
        self.indexes = indexes
        self.ids: list[int] | None = None
        self._records = records
        self._parse = parse
        self._by_key: dict[str, int] | None = None
        self._rows: dict[int, ParsedRow] = {}

    def __len__(self) -> int:
        return len(self.indexes)

    def find(self, key: str) -> ParsedRow | None:
        """The row holding packed *key*, rebuilt, or ``None``."""
        if self._by_key is None:
            keys = self.chunk.keys
            self._by_key = {k: n for n, i in enumerate(self.indexes) for k in keys[i]}
        n = self._by_key.get(key)
        if n is None:
            return None
        row = self._rows.get(n)
        if row is None:
            row = self._parse(self._records[self.chunk.positions[self.indexes[n]]])
            self._rows[n] = row  # before reading ids: see written()
            if self.ids is not None:
                row.patient_id = self.ids[n]
        return row

    def written(self, ids: list[int]) -> None:
        """Record the patients' ids (writer thread); rows already rebuilt get theirs."""
        self.ids = ids
        for n, row in list(self._rows.items()):
            row.patient_id = ids[n]

    def lines(self, ids: list[int], stamp: str) -> Iterator[tuple[str, str]]:
        """``(patient line, contact lines)`` of each row, given their ids."""
        chunk = self.chunk
        patients, contacts = chunk.patients, chunk.contacts
        for i, pid in zip(self.indexes, ids, strict=True):
            yield patients[i].format(pid, stamp), contacts[i].format(pid, stamp)


class PendingKeys(Mapping[Key, "ParsedRow | int"]):
    """What a planned, perhaps uncommitted chunk holds: its planned keys, then its fast rows."""

    def __init__(self, planned: dict[Key, ParsedRow | int], fast: FastRows | None) -> None:
        self.planned = planned
        self.fast = fast

    def __getitem__(self, key: Key) -> ParsedRow | int:
        found = self.planned.get(key)
        if found is None and self.fast is not None:
            found = self.fast.find(pack_key(*key))
        if found is None:
            raise KeyError(key)
        return found

    def __contains__(self, key: object) -> bool:
        try:
            self[key]  # type: ignore[index]
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[Key]:
        return iter(self.planned)

    def __len__(self) -> int:
        return len(self.planned)
