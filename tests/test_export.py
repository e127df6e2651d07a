"""``careloop patients export``: columns, BOM, formulas, merged records, round trip."""

from __future__ import annotations

import csv
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from core import exporter
from core.cli.base import CliState
from core.cli.patients import patients_group
from core.exporter import export_csv, neutralise
from core.importer import ImportOptions, import_csv
from core.importer.columns import EXPORT_COLUMNS
from core.models import AuditEvent, Patient
from core.services.patients import PatientInput, create_patient, merge_patients

NAMES = [("小明", "李"), ("민수", "김"), ("Сергій", "Коваленко")]


def read(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM for Excel
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def export(runtime, actor, path: Path, **kwargs) -> int:
    with runtime.session() as s:
        count = export_csv(s, path, actor, **kwargs)
        s.commit()
    return count


def test_neutralise():
    cells = ["=1+1", "+62812", "-3", "@SUM(A1)", "\tx", "\rx", "ok", "", "a=b"]
    assert [neutralise(c) for c in cells] == [
        "'=1+1",
        "'+62812",
        "'-3",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "ok",
        "",
        "a=b",
    ]


def test_export_neutralises_formulas(runtime, actor, tmp_path):
    with runtime.transaction() as s:
        create_patient(
            s,
            PatientInput(
                given_name='=HYPERLINK("http://evil.example","x")',
                family_name="@SUM(1)",
                phones=["0812 3456 7890"],
                tags=["-vip"],
            ),
            actor,
        )
    path = tmp_path / "out.csv"
    assert export(runtime, actor, path) == 1
    (row,) = read(path)
    assert row["given_name"].startswith("'=HYPERLINK")
    assert row["family_name"] == "'@SUM(1)"
    assert row["phone"] == "'+6281234567890"
    assert row["tags"] == "'-vip"


def test_round_trip_of_native_script_names(runtime, actor, tmp_path):
    with runtime.transaction() as s:
        for i, (given, family) in enumerate(NAMES):
            create_patient(
                s,
                PatientInput(
                    given_name=given,
                    family_name=family,
                    mrn=f"R{i}",
                    phones=[f"+62 812 0000 000{i}"],
                    emails=[f"p{i}@example.com"],
                    tags=["vip"],
                    conditions=[("E11", "Type 2 diabetes"), ("I10", "I10")],
                    lead_source="ads",
                ),
                actor,
            )
    first = tmp_path / "first.csv"
    assert export(runtime, actor, first) == 3
    rows = read(first)
    assert list(rows[0]) == list(EXPORT_COLUMNS)
    assert [r["display_name"] for r in rows] == ["李小明", "김민수", "Сергій Коваленко"]
    assert rows[0]["conditions"] == "E11:Type 2 diabetes;I10"
    report = import_csv(runtime, first, actor, ImportOptions(workers=1))
    assert (report.created, report.updated, report.rejected) == (0, 3, 0)
    second = tmp_path / "second.csv"
    export(runtime, actor, second)
    assert read(second) == rows


def test_import_of_an_export_into_an_empty_database_recreates_patients(runtime, actor, tmp_path):
    with runtime.transaction() as s:
        for i, (given, family) in enumerate(NAMES):
            create_patient(
                s,
                PatientInput(given_name=given, family_name=family, phones=[f"0812 3456 789{i}"]),
                actor,
            )
    path = tmp_path / "out.csv"
    export(runtime, actor, path)
    before = read(path)
    with runtime.transaction() as s:
        for patient in s.scalars(select(Patient)):
            s.delete(patient)
    report = import_csv(runtime, path, actor, ImportOptions(workers=1))
    assert report.created == 3 and report.rejected == 0
    again = tmp_path / "again.csv"
    export(runtime, actor, again)
    assert read(again) == before


def test_merged_patients_are_excluded_by_default(runtime, actor, tmp_path):
    with runtime.transaction() as s:
        winner = create_patient(s, PatientInput(given_name="Win", mrn="W1"), actor)
        loser = create_patient(s, PatientInput(given_name="Lose", mrn="L1"), actor)
        merge_patients(s, winner.id, loser.id, actor)
    path = tmp_path / "out.csv"
    assert export(runtime, actor, path) == 1
    assert [r["mrn"] for r in read(path)] == ["W1"]
    assert export(runtime, actor, path, include_merged=True) == 2


def test_cli_export_writes_file_and_audit_event(runtime, actor, tmp_path):
    with runtime.transaction() as s:
        create_patient(s, PatientInput(given_name="Ani", phones=["0812 3456 7890"]), actor)
    path = tmp_path / "cli.csv"
    state = CliState(runtime.config)
    try:
        result = CliRunner().invoke(patients_group, ["export", str(path)], obj=state)
    finally:
        state.runtime.close()
    assert result.exit_code == 0, result.output
    assert "exported 1 patients" in result.stdout
    assert [r["given_name"] for r in read(path)] == ["Ani"]
    with runtime.session() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "export")).one()
    assert event.details == {"file": "cli.csv", "count": 1, "include_merged": False}


def test_export_streams_in_batches(runtime, actor, tmp_path, monkeypatch):
    monkeypatch.setattr(exporter, "BATCH", 2)
    with runtime.transaction() as s:
        for i in range(5):
            create_patient(
                s,
                PatientInput(given_name=f"P{i}", phones=[f"0812 3456 780{i}"], tags=[f"t{i}"]),
                actor,
            )
    batches: list[int] = []
    path = tmp_path / "out.csv"
    with runtime.session() as s:
        assert export_csv(s, path, actor, on_progress=batches.append) == 5
        s.commit()
    assert batches == [2, 2, 1]
    rows = read(path)
    assert [(r["given_name"], r["phone"], r["tags"]) for r in rows] == [
        (f"P{i}", f"'+628123456780{i}", f"t{i}") for i in range(5)
    ]
