"""Opening an import file: checks that it can be read, then yields its records.

The file is checked in one cheap binary pass before anything is written
(exists, UTF-8 with or without BOM, has a header), so an unreadable file never
leaves half an import behind.  Records keep the number of the line they
start on (line 1 is the header), quoted line breaks included.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.errors import ImportFileError
from core.i18n import gettext as _

_BLOCK = 1 << 20


@dataclass(frozen=True)
class FileInfo:
    """What the pre-pass learnt: the header cells and roughly how many records follow."""

    header: list[str]
    approx_records: int
    size: int


def check_file(path: Path) -> FileInfo:
    """Raise :class:`ImportFileError` unless *path* is a readable UTF-8 CSV with a header."""
    if not path.is_file():
        raise ImportFileError(_("%(path)s: no such file", path=str(path)))
    decoder = codecs.getincrementaldecoder("utf-8")()
    newlines = 0
    offset = 0
    last = b""
    try:
        with path.open("rb") as handle:
            while block := handle.read(_BLOCK):
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as exc:
                    raise ImportFileError(
                        _(
                            "%(path)s is not UTF-8 text (invalid byte at offset %(offset)d); "
                            "save it as CSV UTF-8 and try again",
                            path=str(path),
                            offset=offset + exc.start,
                        )
                    ) from None
                newlines += block.count(b"\n")
                offset += len(block)
                last = block[-1:]
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise ImportFileError(
            _("%(path)s is not UTF-8 text (truncated character at the end)", path=str(path))
        ) from None
    except OSError as exc:
        raise ImportFileError(
            _("%(path)s cannot be read: %(reason)s", path=str(path), reason=exc.strerror)
        ) from None
    header = read_header(path)
    lines = newlines + (1 if last not in (b"", b"\n") else 0)
    return FileInfo(header=header, approx_records=max(lines - 1, 0), size=offset)


def read_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        try:
            header = next(csv.reader(handle), [])
        except csv.Error as exc:
            raise ImportFileError(
                _("%(path)s: the header line is malformed (%(reason)s)", path=str(path), reason=exc)
            ) from None
    if not any(cell.strip() for cell in header):
        raise ImportFileError(_("%(path)s has no header line naming its columns", path=str(path)))
    return header


def iter_records(path: Path) -> Iterator[tuple[int, list[str] | None, str]]:
    """Yield ``(line, cells, error)`` for every record after the header.

    *cells* is ``None`` when the csv module could not split the record; *error*
    then says why.  Blank lines are skipped.
    """
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, strict=True)
        next(reader, None)
        while True:
            start = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield start, None, _("malformed line: %(reason)s", reason=str(exc))
                continue
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            yield start, cells, ""
