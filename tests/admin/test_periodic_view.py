"""Admins see each scheduled task's schedule, last run and outcome."""

from __future__ import annotations

import datetime as dt

from core.periodic import run_due_tasks


def test_admin_sees_the_scheduled_tasks(client, login_as, runtime):
    run_due_tasks(runtime, now=dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC))
    login_as("admin")
    page = client.get("/admin/periodic/").get_data(as_text=True)
    assert "webhooks.purge" in page and "40 2 * * *" in page
