"""``careloop patients import``: bad rows, encodings, dedupe, regions, hooks, CLI."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text

from core import hookimpl
from core.cli.base import CliState
from core.cli.patients import patients_group
from core.errors import ImportFileError
from core.importer import ImportOptions, import_csv
from core.models import AuditEvent, ContactPoint, Patient
from core.services.patients import PatientInput, create_patient, find_by_phone

FIXTURES = Path(__file__).parent / "fixtures" / "import"
HEADER = "mrn,given_name,family_name,birth_date,sex,phone,email,region,tags,conditions,source"


def write_csv(tmp_path: Path, lines: list[str], *, bom: bool = False, crlf: bool = False) -> Path:
    path = tmp_path / "patients.csv"
    text = ("\r\n" if crlf else "\n").join(lines) + ("\r\n" if crlf else "\n")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def run(runtime, path: Path, actor, **options):
    rejects = []
    options.setdefault("workers", 1)
    opts = ImportOptions(on_reject=rejects.append, **options)
    return import_csv(runtime, path, actor, opts), rejects


def count(runtime, model=Patient) -> int:
    with runtime.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_bad_rows_reported_with_line_numbers_while_good_rows_import(runtime, actor, tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_bytes((FIXTURES / "mixed.csv").read_bytes())
    report, rejects = run(runtime, path, actor)
    reasons = {r.line: r.reason for r in rejects}
    assert sorted(reasons) == [6, 7, 8, 11]
    assert "birth_date '1975-13-01'" in reasons[6]
    assert "missing name" in reasons[7]
    assert "'12ab'" in reasons[8]
    assert "expected 14 columns, found 15" in reasons[11]
    assert (report.created, report.updated, report.rejected) == (5, 1, 4)
    assert report.unknown_columns == ["Favourite Colour"]
    assert count(runtime) == 5
    with Path(report.rejects_path).open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["line"] for r in rows] == ["6", "7", "8", "11"]
    assert rows[2]["Phone"] == "12ab" and "12ab" in rows[2]["error"]


def test_line_numbers_count_quoted_line_breaks(runtime, actor, tmp_path):
    path = write_csv(
        tmp_path,
        [HEADER, 'A1,"Multi\nline",Name,,,0812 0000 0001,,,,,', "A2,Bad,Phone,,,xyz,,,,,"],
    )
    report, rejects = run(runtime, path, actor)
    assert report.created == 1
    assert [(r.line, "'xyz'" in r.reason) for r in rejects] == [(4, True)]


def test_malformed_quoting_is_rejected_and_reading_goes_on(runtime, actor, tmp_path):
    path = write_csv(
        tmp_path,
        [
            HEADER,
            ',Ani,"One"x,,,0812 0000 0001,,,,,',
            ",Budi,Two,,,0812 0000 0002,,,,,",
            ',Citra,"unclosed,,,0812 0000 0003,,,,,',
        ],
    )
    report, rejects = run(runtime, path, actor)
    assert [(r.line, r.reason.startswith("malformed line")) for r in rejects] == [
        (2, True),
        (4, True),
    ]
    assert report.created == 1


@pytest.mark.parametrize(("bom", "crlf"), [(True, True), (True, False), (False, True)])
def test_bom_and_crlf(runtime, actor, tmp_path, bom, crlf):
    path = write_csv(
        tmp_path,
        [HEADER, "MRN-1,Budi,Santoso,1980-02-03,m,0812 3456 7890,,,,,"],
        bom=bom,
        crlf=crlf,
    )
    report, rejects = run(runtime, path, actor)
    assert (report.created, rejects, report.unknown_columns) == (1, [], [])
    with runtime.session() as s:
        patient = s.scalars(select(Patient)).one()
    assert (patient.mrn, patient.family_name, patient.sex) == ("MRN-1", "Santoso", "male")


def test_dedupe_within_the_file(runtime, actor, tmp_path):
    path = write_csv(
        tmp_path,
        [
            HEADER,
            ",Budi,Santoso,,,0812-3456-7890,,,vip,,",
            ",Budi,S.,1980-01-01,,+62 812 3456 7890,Budi@Example.ID,,loyal,E11:Diabetes,",
            ",B.,Santoso,,,,budi@example.id,,,,ads",
            "M-9,Ani,One,,,0813 1111 2222,,,,,",
            "m-9,Ani,Two,,,0813 1111 3333,,,,,",
        ],
    )
    report, _ = run(runtime, path, actor)
    assert (report.created, report.updated, report.in_file_duplicates) == (3, 2, 2)
    with runtime.session() as s:
        budi = s.scalars(select(Patient).where(Patient.given_name == "Budi")).one()
        assert budi.family_name == "Santoso"  # first row wins, later rows only fill
        assert budi.birth_date.isoformat() == "1980-01-01" and budi.lead_source == "ads"
        assert {c.value for c in budi.contact_points} == {"+6281234567890", "budi@example.id"}
        assert [t.name for t in budi.tags] == ["loyal", "vip"]
        assert [c.code for c in budi.conditions] == ["E11"]


def test_dedupe_against_existing_patients(runtime, actor, tmp_path):
    with runtime.transaction() as s:
        by_phone = create_patient(s, PatientInput(given_name="P", phones=["0812 3456 7890"]), actor)
        by_email = create_patient(
            s, PatientInput(given_name="E", emails=["ann@example.com"]), actor
        )
        by_mrn = create_patient(s, PatientInput(given_name="M", mrn="MRN-7", sex="female"), actor)
    path = write_csv(
        tmp_path,
        [
            HEADER,
            ",Other,Name,1970-01-01,,+62 (812) 3456-7890,,,,,",
            ",X,Y,,,,ANN@Example.COM,,vip,,",
            "MRN-7,Z,Z,,male,0813 9999 0000,,,,,",
            ",New,Person,,,0814 0000 0000,,,,,",
        ],
    )
    report, _ = run(runtime, path, actor)
    assert (report.created, report.updated, report.in_file_duplicates) == (1, 3, 0)
    with runtime.session() as s:
        phone = s.get(Patient, by_phone.id)
        assert phone.given_name == "P" and phone.birth_date.isoformat() == "1970-01-01"
        assert [t.name for t in s.get(Patient, by_email.id).tags] == ["vip"]
        mrn = s.get(Patient, by_mrn.id)
        assert mrn.sex == "female"  # not overwritten
        assert "+6281399990000" in {c.value for c in mrn.contact_points}
        assert [m.id for m in find_by_phone(s, "0813-9999-0000", "ID")] == [by_mrn.id]


def test_region_applies_to_that_rows_phones(runtime, actor, tmp_path):
    path = write_csv(
        tmp_path,
        [
            HEADER,
            ",민수,김,,,010-1234-5678,,KR,,,",
            ",Сергій,Коваленко,,,067 123 4567,,ua,,,",
            ",Budi,Santoso,,,0812 3456 7890,,,,,",
        ],
    )
    report, rejects = run(runtime, path, actor)
    assert (report.created, rejects) == (3, [])
    with runtime.session() as s:
        values = set(s.scalars(select(ContactPoint.value)))
    assert values == {"+821012345678", "+380671234567", "+6281234567890"}


def test_unreadable_files_raise(runtime, actor, tmp_path):
    with pytest.raises(ImportFileError, match="no such file"):
        run(runtime, tmp_path / "missing.csv", actor)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(HEADER.encode() + b"\n,Jos\xe9,Garc\xeda,,,0812 3456 7890,,,,,\n")
    with pytest.raises(ImportFileError, match="not UTF-8"):
        run(runtime, latin, actor)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"\xef\xbb\xbf\r\n")
    with pytest.raises(ImportFileError, match="no header"):
        run(runtime, empty, actor)
    assert count(runtime) == 0


def test_parallel_workers_give_the_same_result(runtime, actor, tmp_path):
    lines = [HEADER]
    for i in range(300):
        phone = "not-a-phone" if i % 50 == 7 else f"0812 {i // 100:04d} {i % 100:04d}"
        lines.append(f"P{i % 290},Given{i},Family,,,{phone},,,,,")
    path = write_csv(tmp_path, lines)
    report, rejects = run(runtime, path, actor, workers=2, chunk_size=40)
    assert [r.line for r in rejects] == [i + 2 for i in range(300) if i % 50 == 7]
    # rows 290..299 repeat the MRNs of rows 0..9; row 7 was rejected, so 297 is new
    assert report.rejected == 6 and report.created == 285
    assert report.updated == 9 and report.in_file_duplicates == 9
    assert count(runtime) == 285
    assert report.last_id - report.first_id + 1 >= 285


def test_one_audit_event_without_patient_data(runtime, actor, tmp_path):
    path = write_csv(tmp_path, [HEADER, "M1,Secret,Name,,,0812 3456 7890,s@example.com,,,,"])
    report, _ = run(runtime, path, actor)
    with runtime.session() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "import")).all()
    assert len(events) == 1
    details = events[0].details
    assert details["file"] == "patients.csv" and details["created"] == 1
    assert details["first_id"] == report.first_id
    assert events[0].actor == actor.label
    assert "Secret" not in str(details) and "0812" not in str(details)


def test_hook_careloop_on_patients_imported(runtime, actor, tmp_path, plugin_registrar, run_jobs):
    calls: list[tuple[list[int], str, int]] = []

    class Recorder:
        manifest = None

        @hookimpl
        def careloop_on_patients_imported(self, patient_ids, actor):
            with runtime.session() as s:  # called after commit: rows are visible
                visible = s.scalar(select(func.count()).where(Patient.id.in_(patient_ids)))
            calls.append((sorted(patient_ids), actor.label, visible))

    from core import Manifest

    Recorder.manifest = Manifest(name="import_recorder", version="1")
    plugin_registrar(Recorder())
    with runtime.transaction() as s:
        old = create_patient(s, PatientInput(given_name="Old", phones=["0812 0000 0009"]), actor)
    lines = [HEADER] + [f",G{i},F,,,0812 0000 {i:04d},,,,,ads" for i in range(10)]
    path = write_csv(tmp_path, lines)
    report, _ = run(runtime, path, actor, chunk_size=4)
    assert len(calls) == 3  # one per committed chunk
    ids = sorted(i for c in calls for i in c[0])
    assert old.id in ids and len(ids) == 10 and report.created == 9
    assert all(label == actor.label and visible == len(c) for c, label, visible in calls)
    run_jobs()
    from plugins.attribution.models import Touchpoint

    with runtime.session() as s:
        firsts = s.scalars(select(Touchpoint.patient_id).where(Touchpoint.is_first_touch)).all()
    assert sorted(firsts) == ids  # the old patient's empty source was filled too


def invoke(runtime, args):
    state = CliState(runtime.config)
    try:
        return CliRunner().invoke(patients_group, args, obj=state)
    finally:
        state.runtime.close()


def test_cli_import_summary_and_rejects(runtime, tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_bytes((FIXTURES / "mixed.csv").read_bytes())
    result = invoke(runtime, ["import", str(path)])
    assert result.exit_code == 0, result.output
    assert "created: 5, updated: 1, rejected: 4" in result.stdout
    assert "line 8: '12ab' is not a phone number" in result.stderr
    assert "Favourite Colour" in result.stderr
    assert (tmp_path / "mixed.rejects.csv").exists()
    from plugins.attribution.models import Touchpoint

    with runtime.session() as s:  # embedded mode: first touches were recorded before exit
        sources = s.scalars(select(Touchpoint.source).where(Touchpoint.is_first_touch)).all()
    assert sorted(sources) == ["google-ads", "instagram", "naver", "wechat"]


def test_cli_unreadable_file_fails_with_message(runtime, tmp_path):
    result = invoke(runtime, ["import", str(tmp_path / "nope.csv")])
    assert result.exit_code != 0 and "no such file" in result.stderr


def test_cli_nothing_importable_fails(runtime, tmp_path):
    path = write_csv(tmp_path, [HEADER, ",,,,,0812 3456 7890,,,,,", ",A,B,,,??,,,,,"])
    result = invoke(runtime, ["import", str(path)])
    assert result.exit_code != 0
    assert "created: 0, updated: 0, rejected: 2" in result.stdout
    assert "no row could be imported" in result.stderr
    assert count(runtime) == 0


def test_duplicates_across_chunks_while_earlier_chunks_are_being_written(runtime, actor, tmp_path):
    lines = [HEADER]
    for i in range(12):
        lines.append(f",P{i},F,,,0812 0000 {i:04d},,,t{i},,")
    # each repeats a row of the chunk just before it (3 rows per chunk), in another format
    lines += [",Again,F,1990-01-01,,+62 812 0000 0004,,,extra,,", ",Again,F,,,+6281200000008,,,,,"]
    path = write_csv(tmp_path, lines)
    report, _ = run(runtime, path, actor, chunk_size=3)
    assert (report.created, report.updated, report.in_file_duplicates) == (12, 2, 2)
    with runtime.session() as s:
        four = s.scalars(select(Patient).where(Patient.given_name == "P4")).one()
        assert four.birth_date.isoformat() == "1990-01-01"
        assert [t.name for t in four.tags] == ["extra", "t4"]


def test_plan_turns_a_pending_row_into_a_late_update(runtime):
    from core.importer.dedupe import plan_chunk
    from core.importer.rows import ParsedRow

    earlier = ParsedRow(2, "A", "B", "A B", "b a", phones=["+6281200000001"])
    again = ParsedRow(9, "A", "B", "A B", "b a", phones=["+6281200000001"], tags=["vip"])
    with runtime.session() as s:
        plan = plan_chunk(s, [again], range(0), None, [{("phone", "+6281200000001"): earlier}])
    assert plan.new == [] and plan.updated_rows == 1 and plan.in_file_duplicates == 1
    ((target, delta),) = plan.late_updates
    assert target is earlier and delta.tags == ["vip"] and earlier.tags == []
    # what the chunk adds stays findable for later chunks while it is uncommitted
    more = ParsedRow(10, "A", "B", "A B", "b a", phones=["+6281200000001"], emails=["a@x.id"])
    with runtime.session() as s:
        plan = plan_chunk(s, [more], range(0), None, [{("phone", "+6281200000001"): earlier}])
    assert plan.keys[("email", "a@x.id")] is earlier


def test_chains_of_duplicates_across_uncommitted_chunks(runtime, actor, tmp_path):
    with runtime.transaction() as s:
        old = create_patient(s, PatientInput(given_name="Old", phones=["0813 0000 0001"]), actor)
    path = write_csv(
        tmp_path,
        [
            HEADER,
            ",A,F,,,0812 0000 0001,,,,,",
            ",A,F,,,0812 0000 0001,a@example.com,,,,",  # adds an e-mail to the row above
            ",A,F,,,,A@example.com,,,,",  # found by that e-mail only
            ",B,F,,,0813 0000 0001,b@example.com,,,,",  # adds an e-mail to an existing patient
            ",B,F,,,,b@example.com,,,,",
        ],
    )
    report, _ = run(runtime, path, actor, chunk_size=1)
    assert (report.created, report.updated) == (1, 4)
    with runtime.session() as s:
        assert s.scalar(select(func.count()).select_from(Patient)) == 2
        emails = s.scalars(
            select(ContactPoint.value).where(
                ContactPoint.kind == "email", ContactPoint.patient_id == old.id
            )
        ).all()
    assert emails == ["b@example.com"]


def test_special_characters_survive_the_bulk_path(runtime, actor, tmp_path):
    path = write_csv(
        tmp_path,
        [
            HEADER,
            'MRN{1},"{Budi} \\N","Tab\tBack\\slash",,,0812 0000 0001,,,"{x},y}",E11:{a},',
            ",Ani,{0},,,0812 0000 0002,,,,,",
        ],
    )
    report, _ = run(runtime, path, actor)
    assert (report.created, report.rejected) == (2, 0)
    with runtime.session() as s:
        budi = s.scalars(select(Patient).where(Patient.mrn == "MRN{1}")).one()
        assert (budi.given_name, budi.family_name) == ("{Budi} \\N", "Tab\tBack\\slash")
        assert [t.name for t in budi.tags] == ["y}", "{x}"]
        assert [(c.code, c.label) for c in budi.conditions] == [("E11", "{a}")]
        ani = s.scalars(select(Patient).where(Patient.family_name == "{0}")).one()
        assert [c.value for c in ani.contact_points] == ["+6281200000002"]


@pytest.mark.postgresql_only
def test_triggers_someone_added_keep_firing(runtime, actor, tmp_path):
    # the bulk path skips per-row foreign-key checks only when nothing else would be skipped
    ddl = [
        "CREATE TABLE import_seen (patient_id bigint)",
        "CREATE FUNCTION import_seen() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN INSERT INTO import_seen VALUES (NEW.patient_id); RETURN NEW; END $$",
        "CREATE TRIGGER import_seen AFTER INSERT ON contact_points "
        "FOR EACH ROW EXECUTE FUNCTION import_seen()",
    ]
    with runtime.transaction() as s:
        for statement in ddl:
            s.execute(text(statement))
    try:
        path = write_csv(
            tmp_path, [HEADER, ",A,F,,,0812 0000 0001,a@x.id,,,,", ",B,F,,,,b@x.id,,,,"]
        )
        report, _ = run(runtime, path, actor)
        assert report.created == 2
        with runtime.session() as s:
            assert s.scalar(text("SELECT count(*) FROM import_seen")) == 3
    finally:
        with runtime.transaction() as s:
            s.execute(text("DROP TRIGGER import_seen ON contact_points"))
            s.execute(text("DROP FUNCTION import_seen()"))
            s.execute(text("DROP TABLE import_seen"))
