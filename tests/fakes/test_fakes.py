"""The fake providers themselves: recording, misbehaviour, HTTP controls."""

from __future__ import annotations

import httpx

from tests.fakes import FakeSmsApi


def send(fake: FakeSmsApi, idx: str, check_idx: str = "1") -> httpx.Response:
    return httpx.post(
        f"{fake.url}/sms.do",
        data={"to": "48500000000", "message": "hi", "idx": idx, "check_idx": check_idx},
        headers={"Authorization": f"Bearer {fake.token}"},
        timeout=5,
    )


def test_faults_apply_to_the_next_requests_then_heal():
    with FakeSmsApi() as fake:
        fake.fail(2, status=502)
        assert [send(fake, str(i)).status_code for i in range(3)] == [502, 502, 200]
        fake.rate_limit()
        assert send(fake, "9").status_code == 429
        assert send(fake, "9").json()["list"][0]["idx"] == "9"
        assert fake.counts() == {"2": 1, "9": 1}


def test_a_repeated_idx_is_refused_only_with_check_idx():
    with FakeSmsApi() as fake:
        send(fake, "5")
        assert send(fake, "5").json()["error"] == 53
        assert "list" in send(fake, "5", check_idx="0").json()
        assert fake.counts()["5"] == 2


def test_http_controls_for_another_process():
    with FakeSmsApi(keep_requests=False) as fake:
        assert httpx.post(f"{fake.url}/_fake/fail?times=1&status=500").status_code == 200
        assert send(fake, "1").status_code == 500
        send(fake, "1")
        assert httpx.get(f"{fake.url}/_fake/counts").json() == {"1": 1}
        httpx.post(f"{fake.url}/_fake/reset")
        assert httpx.get(f"{fake.url}/_fake/accepted").json() == []
        assert fake.requests == []
