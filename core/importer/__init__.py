"""Bulk patient import from CSV (``careloop patients import FILE.csv``).

File
    UTF-8 with or without a byte-order mark, CRLF or LF line ends, comma
    separated, ``"`` quoting (what "CSV UTF-8" in Excel or LibreOffice writes).
    The first line names the columns.

Columns (matched by header, case- and space-insensitively; order free)

============== ============================================== =========================
column         meaning                                        also accepted
============== ============================================== =========================
mrn            medical record number (unique)                 medical_record_number
given_name     given name                                     first_name
family_name    family name                                    last_name, surname
display_name   name as shown; composed from the parts         name, full_name
               when empty (李小明, 김민수, Сергій Коваленко)
birth_date     ISO date ``YYYY-MM-DD``                        date_of_birth, dob
sex            female, male, other, unknown (or F/M/O/U)      gender
phone          one or more numbers separated by ``;``, in     phones, mobile, tel,
               any local or international format              phone2, phone_3...
whatsapp       WhatsApp numbers, like ``phone``
email          one or more e-mail addresses, ``;``-separated  emails, e_mail
language       preferred language, BCP 47 (``id``, ``zh``)    preferred_language, lang
region         ISO country whose local format this row's      phone_region
               phones use (default ``CARELOOP_DEFAULT_REGION``)
country        country of the address (ISO code)
tags           labels separated by ``;`` (lower-cased)        tag
conditions     ``CODE:Label;CODE2`` (e.g. ``E11:Type 2         condition
               diabetes;I10``)
source         first-touch lead source (``google-ads``)       lead_source
============== ============================================== =========================

Other columns are reported once as unknown and ignored.  A cell starting with
``'`` followed by ``= + - @`` has the apostrophe removed (it is how the export
protects spreadsheets from formulas), so exported files import back unchanged.

Rows
    A row needs a name (given, family or display).  A row whose MRN, phone,
    WhatsApp number or e-mail belongs to an existing patient — or to an earlier
    row of the file — updates that patient: empty fields are filled, new
    contact points, tags and conditions are added, nothing is overwritten.
    Every other good row creates a patient.  Bad rows (unparseable phone,
    invalid date, missing name, wrong number of cells...) are reported with
    their line number and reason and written, with ``line`` and ``error``
    columns added, to ``FILE.rejects.csv`` (UTF-8 with BOM; fix and import it
    again); the rest is imported.  The summary counts rows: *created* (new
    patients), *updated* (rows that matched an existing patient or an earlier
    row) and *rejected*.  The command fails (exit status 1) only when no row
    could be imported, or (status 1, nothing written) when the file is
    missing, not UTF-8 or has no header.

Speed
    Rows are parsed in ``CARELOOP_IMPORT_WORKERS`` processes (0 = one per
    CPU) and written in chunks with the database's bulk path (``COPY`` on
    PostgreSQL, ``executemany`` on SQLite) by a writer thread; each chunk
    commits on its own and fires ``careloop_on_patients_imported``, so an
    interrupted import keeps the chunks already committed (importing the same
    file again updates them instead of duplicating).  One audit event records
    the import: actor, file name, counts and the range of new ids.

    On PostgreSQL the workers send rows back ready to ``COPY``
    (:mod:`core.importer.packed`): the main process only checks their keys and
    fills in ids, and parses again the few rows that may be duplicates.
    Chunks commit without waiting for the disk: the audit event, committed
    last and durably, flushes them; a server crash during the import may lose
    its last fraction of a second of chunks (importing the file again writes
    them).  When the database role may set
    ``session_replication_role`` (superuser, or ``GRANT SET`` on it) and the
    import's tables carry no trigger of their own, new rows skip the per-row
    foreign-key checks, whose references are guaranteed otherwise (see
    :func:`core.importer.postgres.unchecked_links`).
"""

from core.importer.pipeline import ImportOptions, ImportReport, import_csv

__all__ = ["ImportOptions", "ImportReport", "import_csv"]
