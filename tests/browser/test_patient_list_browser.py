"""The patient list in a real browser: search box, Flask-Admin's filter widgets (its
JavaScript on our lean template), paging links, the role's filters, no script errors."""

from __future__ import annotations

import re
from typing import Any

from tests.browser.conftest import sign_in


def _names(page: Any) -> list[str]:
    return [name.strip() for name in page.locator("td.col-display_name").all_inner_texts()]


def _watch_errors(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def test_search_box_and_filters(page_factory, staff, patients):
    page = page_factory()
    errors = _watch_errors(page)
    sign_in(page, staff["crm_staff"])
    page.goto("/admin/patients/")
    assert "Wayan Sudarsana" in _names(page)
    page.fill("form[role=search] input[name=search]", "0812 3456 7890")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_url("**search=**")
    assert _names(page) == ["Wayan Sudarsana"]
    page.click("a.nav-link.dropdown-toggle:has-text('Add Filter')")
    page.click(".field-filters a.filter:has-text('Language')")
    value = page.locator("#filter_form table.filters input.filter-val").first
    value.fill("zz")
    page.click("#filter_form button[type=submit]")
    page.wait_for_url(re.compile(r"flt\d+_\d+=zz"))
    assert "search=0812" in page.url  # the search is kept with the filter
    assert _names(page) == []
    assert page.locator("#filter_form table.filters input.filter-val").first.input_value() == "zz"
    page.click("#filter_form a:has-text('Reset Filters')")
    page.wait_for_load_state("load")
    assert "flt" not in page.url
    assert "Wayan Sudarsana" in _names(page)
    assert errors == [] and page.dialogs == []


def test_marketer_filters_have_no_conditions(page_factory, staff, patients):
    page = page_factory()
    errors = _watch_errors(page)
    sign_in(page, staff["marketer"])
    page.goto("/admin/patients/")
    page.click("a.nav-link.dropdown-toggle:has-text('Add Filter')")
    filters = page.locator(".field-filters a.filter").all_inner_texts()
    assert "Tag" in filters and "Condition" not in filters
    assert page.locator("a[href^='/admin/patient/']").count() == 0  # no 360 links
    assert page.locator("a:has-text('Export')").count() == 0
    assert errors == []


def test_paging_links(page_factory, staff, runtime):
    from core.audit import Actor
    from core.services.patients import PatientInput, create_patient

    with runtime.transaction() as session:
        for i in range(27):
            create_patient(
                session,
                PatientInput(given_name=f"N{i:02d}", family_name="Pager"),
                Actor.system("test"),
            )
    page = page_factory()
    sign_in(page, staff["agent"])
    page.goto("/admin/patients/?search=pager")
    assert len(_names(page)) == 25
    page.click("ul.pagination li:nth-child(2) a")
    page.wait_for_url("**page=1**")
    assert _names(page) == ["N25 Pager", "N26 Pager"]
    page.click("ul.pagination li:nth-child(1) a")
    page.wait_for_load_state("load")
    assert len(_names(page)) == 25 and _names(page)[0] == "N00 Pager"
