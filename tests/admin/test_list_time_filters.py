"""Back-office lists: a time typed into a list's "after / before / between" filter is the
clinic's local time (as the list shows it), compared with the UTC rows (invariant 5)."""

from __future__ import annotations

import html
import json
import re

import pytest
from flask_admin.contrib.sqla import filters as f
from flask_admin.model.filters import BaseDateTimeBetweenFilter, BaseDateTimeFilter
from sqlalchemy import select

from core.db import UTCDateTime
from core.models import Interaction
from tests.admin.conftest import STORED, stored_as_shown

#: what the staff member types: the clinic's wall clock, a minute either side of STORED
JUST_BEFORE = "2026-03-06 04:29:00"
JUST_AFTER = "2026-03-06 04:31:00"
#: the same wall clock read as UTC: 8 hours off
UTC_READING = ("2026-03-05 20:29:00", "2026-03-05 20:31:00")

VIEWS = [
    ("crm_staff", "interactions", "started_at"),
    ("admin", "audit", "occurred_at"),
]


def _shown() -> str:
    return stored_as_shown("en")


def _rows_of(body: str) -> list[str]:
    start = body.index("</thead>")
    return body[start : body.index("</table>", start)].split("<tr>")[1:]


def _times(body: str, column: str) -> list[str]:
    return [
        cell
        for row in _rows_of(body)
        for cell in re.findall(rf'<td class="col-{column}">(.*?)</td>', row, re.S)
    ]


def _view(app, endpoint: str):
    return next(v for v in app.extensions["admin"][0]._views if v.endpoint == endpoint)


def _filter_arg(app, endpoint: str, kind: type) -> str:
    """The URL argument of the view's filter of *kind* (exactly, not a subclass's kind)."""
    view = _view(app, endpoint)
    with app.test_request_context():
        for arg, (_index, flt) in view._filter_args.items():
            if isinstance(flt, kind) and not isinstance(flt, f.DateTimeNotBetweenFilter):
                return arg
    raise AssertionError(f"{endpoint} has no {kind.__name__}")


@pytest.fixture
def stored(stored_times):
    return stored_times


def _listed(client, endpoint: str, column: str, arg: str, value: str) -> bool:
    response = client.get(f"/admin/{endpoint}/", query_string={f"flt0_{arg}": value, "lang": "en"})
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    body = response.get_data(as_text=True)
    assert "Invalid Filter Value" not in body
    # the filter input still holds what the staff member typed (not UTC, not reformatted)
    data = re.search(r'<div id="active-filters-data"[^>]*>(.*?)</div>', body, re.S)
    assert data is not None
    assert [entry[2] for entry in json.loads(html.unescape(data.group(1)))] == [value]
    return _shown() in _times(body, column)


def test_the_expected_text_is_the_clinic_wall_clock():
    assert "4:30:00" in _shown() and "Mar 6" in _shown()


@pytest.mark.parametrize(
    ("kind", "listed", "hidden"),
    [
        (f.DateTimeGreaterFilter, JUST_BEFORE, JUST_AFTER),  # after
        (f.DateTimeSmallerFilter, JUST_AFTER, JUST_BEFORE),  # before
    ],
    ids=["after", "before"],
)
@pytest.mark.parametrize(("role", "endpoint", "column"), VIEWS)
def test_after_and_before_take_the_clinic_local_time(
    app, client, login_as, stored, role, endpoint, column, kind, listed, hidden
):
    login_as(role)
    arg = _filter_arg(app, endpoint, kind)
    assert _listed(client, endpoint, column, arg, listed)
    assert not _listed(client, endpoint, column, arg, hidden)


@pytest.mark.parametrize(("role", "endpoint", "column"), VIEWS)
def test_between_takes_the_clinic_local_time(app, client, login_as, stored, role, endpoint, column):
    login_as(role)
    between = _filter_arg(app, endpoint, f.DateTimeBetweenFilter)
    assert _listed(client, endpoint, column, between, f"{JUST_BEFORE} to {JUST_AFTER}")
    assert not _listed(client, endpoint, column, between, f"{JUST_AFTER} to 2026-03-06 05:00:00")
    assert not _listed(client, endpoint, column, between, f"2026-03-06 04:00:00 to {JUST_BEFORE}")
    # the typed times read as UTC would have listed it
    assert not _listed(client, endpoint, column, between, " to ".join(UTC_READING))


def test_every_time_filter_of_every_list_reads_the_clinic_zone(app):
    """Core and plugin lists alike: each filter on a UTC column converts the typed time."""
    from admin.views.time_filters import ZonedFilter

    checked = 0
    for view in app.extensions["admin"][0]._views:
        for flt in getattr(view, "_filters", None) or ():
            if isinstance(flt, (BaseDateTimeFilter, BaseDateTimeBetweenFilter)):
                assert isinstance(flt, ZonedFilter), (view.endpoint, flt)
                checked += 1
    assert checked >= 6


@pytest.mark.parametrize(
    ("kind", "typed", "listed"),
    [
        (f.DateEqualFilter, "2026-03-06", True),  # the clinic's day of the row
        (f.DateEqualFilter, "2026-03-05", False),  # its UTC day
        (f.DateNotEqualFilter, "2026-03-06", False),
        (f.DateGreaterFilter, "2026-03-05", True),
        (f.DateGreaterFilter, "2026-03-06", False),
        (f.DateSmallerFilter, "2026-03-07", True),
        (f.DateSmallerFilter, "2026-03-06", False),
        (f.DateBetweenFilter, "2026-03-06 to 2026-03-06", True),
        (f.DateBetweenFilter, "2026-03-04 to 2026-03-05", False),
        (f.DateNotBetweenFilter, "2026-03-06 to 2026-03-07", False),
        (f.DateNotBetweenFilter, "2026-03-07 to 2026-03-08", True),
    ],
)
def test_a_date_filter_on_a_time_column_takes_the_clinic_day(
    app, runtime, stored, kind, typed, listed
):
    from admin.views.time_filters import zoned_filter

    flt = kind(Interaction.started_at, "When")
    flt.bind(Interaction)
    assert isinstance(Interaction.started_at.type, UTCDateTime)
    with app.test_request_context():
        flt = zoned_filter(flt)
        assert flt.validate(typed)
        query = flt.apply(select(Interaction.started_at), flt.clean(typed))
        with runtime.session() as session:
            found = session.scalars(query).all()
    assert (STORED in found) is listed, found
