"""The import pipeline: read -> parse in worker processes -> plan -> bulk write.

The main process reads records and hands chunks to a pool of worker processes
(phone parsing is the cost); at most a few chunks are in flight, so memory
stays bounded whatever the file's size.  Parsed chunks come back in file
order and are planned (deduplicated) by the main thread, then written by the
writer thread (:mod:`core.importer.writer`), one transaction per chunk;
``careloop_on_patients_imported`` fires after each commit.  One audit event
describes the whole import.
"""

from __future__ import annotations

import collections
import functools
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.audit import Actor, record
from core.i18n import gettext as _
from core.importer.columns import HeaderMap, map_header
from core.importer.dedupe import ChunkPlan, Key, plan_chunk, plan_packed
from core.importer.keyfilter import database_keys
from core.importer.packed import PackedChunk
from core.importer.reader import check_file, iter_records
from core.importer.rejects import RejectsFile, default_rejects_path
from core.importer.rows import ParsedRow, Reject, init_worker, parse_chunk, reparse
from core.importer.writer import PENDING_CHUNKS, WriterThread

if TYPE_CHECKING:
    from core.runtime import CareLoop

DEFAULT_CHUNK_SIZE = 10_000
Record = tuple[int, list[str] | None, str]


@dataclass
class ImportReport:
    """Counts of one import (no patient data)."""

    file: str
    created: int = 0
    #: rows that matched an existing patient or an earlier row of the file
    updated: int = 0
    rejected: int = 0
    #: of ``updated``, rows that repeated an earlier row of the file
    in_file_duplicates: int = 0
    unknown_columns: list[str] = field(default_factory=list)
    rejects_path: str | None = None
    first_id: int | None = None
    last_id: int | None = None

    @property
    def imported(self) -> int:
        """Rows that created or updated a patient."""
        return self.created + self.updated


@dataclass
class ImportOptions:
    """How to run an import; the defaults suit the CLI."""

    rejects_path: Path | None = None
    #: worker processes for parsing; ``None`` = ``CARELOOP_IMPORT_WORKERS`` (0 = CPU count)
    workers: int | None = None
    chunk_size: int = DEFAULT_CHUNK_SIZE
    on_progress: Callable[[int], None] | None = None
    on_reject: Callable[[Reject], None] | None = None


def import_csv(
    runtime: CareLoop, path: Path | str, actor: Actor, options: ImportOptions | None = None
) -> ImportReport:
    """Import patients from the CSV file at *path*; see :mod:`core.importer`.

    Raises :class:`core.errors.ImportFileError` when the file cannot be read
    at all; bad rows are reported, written to the rejects file and skipped.
    """
    options = options or ImportOptions()
    path = Path(path)
    info = check_file(path)
    header = map_header(info.header)
    report = ImportReport(file=path.name, unknown_columns=list(header.unknown))
    rejects = RejectsFile(options.rejects_path or default_rejects_path(path), info.header)
    with runtime.session() as session:
        keys = database_keys(session, 3 * info.approx_records)
    workers = _worker_count(runtime, options.workers)
    if info.approx_records < 2 * options.chunk_size:
        workers = 1
    writer = WriterThread(runtime, actor, report)
    writer.start()
    pending: collections.deque[Mapping[Key, ParsedRow | int]] = collections.deque(
        maxlen=PENDING_CHUNKS
    )
    region = runtime.config.default_region
    parse = functools.partial(reparse, header.pairs, header.width, region)
    try:
        setup = (region, writer.postgres)
        for records, chunk in _parsed_chunks(path, header, setup, options, workers):
            plan: ChunkPlan | None = None
            if isinstance(chunk, PackedChunk):
                _take_rejects(chunk.rejects, rejects, report, options)
                if chunk.positions:
                    plan = _plan(runtime, report, plan_packed, chunk, records, parse, keys, pending)
            else:
                rows = _take_rejects(chunk, rejects, report, options)
                if rows:
                    plan = _plan(runtime, report, plan_chunk, rows, keys, pending)
            if plan is not None:
                pending.append(plan.lookup())
                writer.submit(plan)
            if options.on_progress:
                options.on_progress(len(records))
    finally:
        rejects.close()
        writer.finish()
    report.rejects_path = str(rejects.path) if rejects.count else None
    _audit(runtime, actor, report)
    return report


def _worker_count(runtime: CareLoop, wanted: int | None) -> int:
    count = runtime.config.import_workers if wanted is None else wanted
    return count if count > 0 else (os.cpu_count() or 1)


def _take_rejects(
    chunk: Iterable[ParsedRow | Reject],
    rejects: RejectsFile,
    report: ImportReport,
    options: ImportOptions,
) -> list[ParsedRow]:
    rows: list[ParsedRow] = []
    for item in chunk:
        if isinstance(item, Reject):
            report.rejected += 1
            rejects.add(item)
            if options.on_reject:
                options.on_reject(item)
        else:
            rows.append(item)
    return rows


def _plan(
    runtime: CareLoop,
    report: ImportReport,
    planner: Callable[..., ChunkPlan],
    *args: Any,
) -> ChunkPlan:
    """Run *planner* (:func:`plan_chunk` or :func:`plan_packed`) on a chunk.

    *args* are the planner's arguments up to ``keys, pending``; the session and the
    ids this import created so far are added.
    """
    *given, keys, pending = args
    created = range(report.first_id or 0, (report.last_id or -1) + 1)
    with runtime.session() as session:
        plan = planner(session, *given, created, keys, pending)
    report.updated += plan.updated_rows
    report.in_file_duplicates += plan.in_file_duplicates
    return plan


def _audit(runtime: CareLoop, actor: Actor, report: ImportReport) -> None:
    details: dict[str, Any] = asdict(report)
    details.pop("rejects_path")
    details.pop("unknown_columns")
    with runtime.transaction() as session:
        record(session, actor, "import", "patient", None, details=details)


# -- reading and parsing ------------------------------------------------------


def _record_chunks(path: Path, size: int) -> Iterator[list[Record]]:
    chunk: list[Record] = []
    for item in iter_records(path):
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _parsed_chunks(
    path: Path,
    header: HeaderMap,
    setup: tuple[str, bool],
    options: ImportOptions,
    workers: int,
) -> Iterator[tuple[list[Record], list[ParsedRow | Reject] | PackedChunk]]:
    """``(records, parsed)`` chunks in file order; in worker processes when *workers* > 1.

    *setup* is the default region and whether to pre-render COPY text (then
    *parsed* is a :class:`PackedChunk`).
    """
    chunks = _record_chunks(path, options.chunk_size)
    if workers <= 1:
        init_worker(header, *setup)
        for chunk in chunks:
            yield chunk, parse_chunk(chunk)
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=init_worker, initargs=(header, *setup)) as pool:
        pending: collections.deque[Any] = collections.deque()
        for chunk in chunks:
            pending.append((chunk, pool.apply_async(parse_chunk, (chunk,))))
            if len(pending) >= 2 * workers:
                records, result = pending.popleft()
                yield records, result.get()
        while pending:
            records, result = pending.popleft()
            yield records, result.get()


def nothing_imported_message(report: ImportReport) -> str:
    """Why an import that imported nothing failed, for the CLI."""
    if report.rejected:
        return _(
            "no row could be imported: all %(count)d rows were rejected", count=report.rejected
        )
    return _("the file has a header but no patient rows")
