from core.services.patients import PatientInput, create_patient, find_by_phone


def test_create_and_find(runtime, actor):
    with runtime.transaction() as s:
        p = create_patient(s, PatientInput(given_name="A", phones=["0812 3456 7890"]), actor)
    with runtime.session() as s:
        assert [m.id for m in find_by_phone(s, "+6281234567890", None)] == [p.id]
