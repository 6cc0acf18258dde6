"""重复提示 on a phone: a resident who puts the pin next to an open case of the same kind
sees it listed under the map, with public facts only, before sending a second report."""

from __future__ import annotations

import pytest

from tests.browser_support import wait_until
from tests.grievances.conftest import new_case

pytestmark = pytest.mark.browser


def test_the_report_page_lists_an_open_case_at_the_pin(tree, people, live_server, resident_phone):
    # An open case 30 m away, of the same kind; its title is not for the public.
    new_case(
        people.grid_worker, category="hazard.utilities", point=(91.2003, 29.7), title="三楼水管爆裂"
    )
    page = resident_phone.new_page()
    page.goto(f"{live_server.url}/report/")
    page.fill("#category-filter", "供水")
    assert page.input_value("#id_category") == "hazard.utilities"
    assert page.locator(".nearby__item").count() == 0  # no pin yet
    page.click("[data-locate-me]")
    wait_until(page, "document.querySelectorAll('.nearby__item').length === 1")
    text = page.inner_text("#nearby")
    assert "附近已有的反映" in text and "米" in text
    assert "三楼水管爆裂" not in text
