"""The rejects file: every bad row with its original cells and an ``error`` column."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import IO, Any

from core.importer.rows import Reject


def default_rejects_path(path: Path) -> Path:
    """``patients.csv`` -> ``patients.rejects.csv`` beside it."""
    return path.with_name(f"{path.stem}.rejects.csv")


class RejectsFile:
    """Opened on the first reject, so a clean import leaves no file behind."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self.path = path
        self.header = header
        self.count = 0
        self._handle: IO[str] | None = None
        self._writer: Any = None

    def add(self, reject: Reject) -> None:
        if self._handle is None:
            # BOM: Excel then opens it as UTF-8; the importer accepts it back.
            self._handle = self.path.open("w", encoding="utf-8-sig", newline="")
            self._writer = csv.writer(self._handle)
            self._writer.writerow([*self.header, "line", "error"])
        width = len(self.header)
        cells = (reject.cells + [""] * width)[:width]
        self._writer.writerow([*cells, reject.line, reject.reason])
        self.count += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
