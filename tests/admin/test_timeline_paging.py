"""The 360° page pages its timeline with the service's exact cursor."""

import datetime as dt
import re

from core.services.interactions import log_interaction
from core.services.patients import PatientInput, create_patient


def test_timeline_pages_cover_entries_sharing_a_timestamp(runtime, actor, client, login_as):
    login_as("admin")
    same_moment = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
    with runtime.transaction() as s:
        patient = create_patient(s, PatientInput(given_name="Paging", family_name="Test"), actor)
        for n in range(60):
            log_interaction(
                s,
                patient.id,
                channel="phone",
                direction="inbound",
                kind="call",
                subject=f"call-{n:02d}",
                started_at=same_moment,
                actor=actor,
            )
    seen: list[str] = []
    url = f"/admin/patient/{patient.id}"
    for _ in range(10):
        page = client.get(url)
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        seen += re.findall(r"call-\d\d", html)
        older = re.search(r'id="timeline-older" href="([^"]+)"', html)
        if not older:
            break
        url = older.group(1).replace("&amp;", "&")
    assert sorted(set(seen)) == [f"call-{n:02d}" for n in range(60)]
    assert len(seen) == 60


def test_forged_cursor_is_a_bad_request(runtime, actor, client, login_as):
    login_as("admin")
    with runtime.transaction() as s:
        patient = create_patient(s, PatientInput(given_name="Forged"), actor)
    assert client.get(f"/admin/patient/{patient.id}?before=not-a-cursor").status_code == 400
