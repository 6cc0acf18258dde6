"""研判: the centre corrects a report (POST /api/v1/grievances/{id}/triage/ and the case
page's form), the handling level at acceptance (by complexity, or the routing rule's
proposal) and the urgency a resident only suggests.

The refusals every act shares (404 outside scope, 403 wrong role, 409 closed) are in
test_acts_api.py's tables."""

from __future__ import annotations

from html import unescape

import pytest
import time_machine
from django.test import Client

from dispatch.models import RoutingRule
from grids.models import Role
from grievances import services
from grievances.models import CaseEvent, Category, Grievance, State
from grievances.relay import relay_batch
from tests.factories import make_member
from tests.grievances.conftest import POINT_B1, advance, api_as, at, new_case, post_act

pytestmark = pytest.mark.django_db

POINT_A2 = (91.2, 29.2)  # inside 江塘村第二网格 (tree.grid_a2)


@pytest.fixture
def case(tree, people):
    return new_case(people.grid_worker, category="hazard.environment")


def triage(user, case, data, **headers):
    return api_as(user).post(
        f"/api/v1/grievances/{case.pk}/triage/", data, format="json", **headers
    )


def last_event(case) -> CaseEvent:
    return CaseEvent.objects.filter(grievance=case).order_by("-id").first()


def count_events(case) -> int:
    return CaseEvent.objects.filter(grievance=case).count()


# --- the API: each field, one event with old and new values and the reason -----------------


@pytest.mark.parametrize(
    "field, value, old",
    [
        ("category", "hazard.road", "hazard.environment"),
        ("urgency", "most_urgent", "normal"),
        ("risk_petition", True, False),
        ("risk_extreme", True, False),
        ("risk_group", True, False),
        ("title", "河道垃圾堆积", "楼道垃圾堆积"),
        ("description", "河道里堆满了垃圾", "楼道垃圾堆积，请尽快处理"),
    ],
)
def test_each_field_is_corrected_with_its_old_and_new_value(case, people, field, value, old):
    before = Grievance.objects.get(pk=case.pk)
    tag = api_as(people.centre_staff).get(f"/api/v1/grievances/{case.pk}/")["ETag"]
    r = triage(people.centre_staff, case, {field: value, "reason": "上报有误"}, HTTP_IF_MATCH=tag)
    assert r.status_code == 200, r.json()
    body = r.json()
    fresh = Grievance.objects.get(pk=case.pk)
    assert (fresh.category.code if field == "category" else getattr(fresh, field)) == value
    assert r["ETag"] != tag and int(r["ETag"].strip('"')) == before.version + 1
    event = last_event(case)
    assert (event.action, event.actor_id, event.note) == (
        "triage",
        people.centre_staff.pk,
        "上报有误",
    )
    assert (event.from_state, event.to_state, event.public) == ("submitted", "submitted", False)
    change = event.data["changes"][field]
    assert (change["old"], change["new"]) == (old, value)
    assert list(event.data["changes"]) == [field]
    assert body["events"][-1]["action"] == "triage"


def test_several_fields_at_once_are_one_event_and_the_priority_follows(case, people):
    assert case.priority == 10
    r = triage(
        people.centre_staff,
        case,
        {"urgency": "urgent", "risk_extreme": True, "title": "楼道堆物", "reason": "核实后"},
    )
    assert r.status_code == 200, r.json()
    fresh = Grievance.objects.get(pk=case.pk)
    assert fresh.priority == 20 + 5
    assert set(last_event(case).data["changes"]) == {"urgency", "risk_extreme", "title"}
    assert count_events(case) == 2


def test_a_new_point_relocates_the_grid(case, people, tree):
    r = triage(
        people.centre_staff, case, {"lng": POINT_A2[0], "lat": POINT_A2[1], "reason": "定位偏差"}
    )
    assert r.status_code == 200, r.json()
    fresh = Grievance.objects.get(pk=case.pk)
    assert (fresh.lng, fresh.lat) == POINT_A2
    assert fresh.region == tree.grid_a2 and fresh.grid_id == tree.grid_a2.pk
    assert fresh.owning_centre == tree.village_a
    changes = last_event(case).data["changes"]
    assert changes["place"] == {"old": [91.2, 29.7], "new": [91.2, 29.2]}
    assert changes["region"]["new"] == tree.grid_a2.code
    assert "owning_centre" not in changes


def test_a_new_place_moves_the_case_to_that_places_centre(case, people, tree):
    county_staff = make_member("county_staff", tree.county, Role.CENTRE_STAFF)
    r = triage(county_staff, case, {"lng": POINT_B1[0], "lat": POINT_B1[1], "reason": "在克松村"})
    assert r.status_code == 200, r.json()
    fresh = Grievance.objects.get(pk=case.pk)
    assert fresh.region == tree.grid_b1
    assert fresh.owning_centre == tree.village_b
    assert fresh.township_id == tree.town_b.pk and fresh.village_id == tree.village_b.pk
    assert last_event(case).data["changes"]["owning_centre"]["new_name"] == "克松村"
    # Now in 克松村's queue: its township's centre sees it, 泽当街道's no longer does.
    assert api_as(people.sibling_staff).get(f"/api/v1/grievances/{case.pk}/").status_code == 200
    assert api_as(people.centre_staff).get(f"/api/v1/grievances/{case.pk}/").status_code == 404


def test_a_region_chosen_by_hand_drops_the_point(case, people, tree):
    r = triage(people.centre_staff, case, {"region": tree.village_a.code, "reason": "无法定位"})
    assert r.status_code == 200, r.json()
    fresh = Grievance.objects.get(pk=case.pk)
    assert (fresh.region, fresh.lng, fresh.lat) == (tree.village_a, None, None)
    assert fresh.grid_id is None and fresh.owning_centre == tree.village_a


@pytest.mark.parametrize(
    "data, field",
    [
        ({"urgency": "urgent"}, "reason"),
        ({"urgency": "urgent", "reason": "  "}, "reason"),
        ({"category": "no.such", "reason": "x"}, "category"),
        ({"urgency": "now", "reason": "x"}, "urgency"),
        ({"title": "", "reason": "x"}, "title"),
        ({"lng": 91.2, "reason": "x"}, "lng"),
        ({"lng": 120.0, "lat": 29.5, "reason": "x"}, "lng"),
        ({"lng": 91.2, "lat": 29.2, "region": "540502001001", "reason": "x"}, "region"),
        # Outside the acting centre's area (泽当街道): 克松村 lies in 昌珠镇.
        ({"lng": POINT_B1[0], "lat": POINT_B1[1], "reason": "x"}, "lng"),
        ({"region": "540502002001", "reason": "x"}, "region"),
        ({"region": "999", "reason": "x"}, "region"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_nothing_changes(case, people, data, field):
    version = Grievance.objects.get(pk=case.pk).version
    r = triage(people.centre_staff, case, data)
    assert r.status_code == 400, r.json()
    assert field in r.json(), r.json()
    assert Grievance.objects.get(pk=case.pk).version == version
    assert count_events(case) == 1


@pytest.mark.parametrize(
    "data", [{"reason": "x"}, {"urgency": "normal", "title": "楼道垃圾堆积", "reason": "x"}]
)
def test_no_change_is_a_400(case, people, data):
    r = triage(people.centre_staff, case, data)
    assert r.status_code == 400, r.json()
    assert r.json()["non_field_errors"]
    assert count_events(case) == 1


def test_another_regions_centre_gets_404_and_a_grid_worker_403(case, people):
    assert (
        triage(people.sibling_staff, case, {"urgency": "urgent", "reason": "x"}).status_code == 404
    )
    assert triage(people.grid_worker, case, {"urgency": "urgent", "reason": "x"}).status_code == 403
    assert count_events(case) == 1


@pytest.mark.parametrize(
    "state", [State.ACCEPTED, State.DISPATCHED, State.IN_PROGRESS, State.HANDLED]
)
def test_allowed_until_the_case_is_closed(case, people, state):
    case = advance(case, state, people)
    r = triage(people.centre_staff, case, {"risk_group": True, "reason": "涉及多户"})
    assert r.status_code == 200, r.json()
    assert r.json()["state"] == state


def test_not_while_mediating(tree, people):
    case = new_case(people.grid_worker, category="dispute.neighbours")
    services.grievance_mediate(case, people.centre_staff)
    r = triage(people.centre_staff, case, {"title": "邻里纠纷", "reason": "x"})
    assert r.status_code == 409 and r.json()["state"] == "mediating"


def test_a_stale_if_match_is_409_and_nothing_changes(case, people):
    tag = api_as(people.centre_staff).get(f"/api/v1/grievances/{case.pk}/")["ETag"]
    services.grievance_note(case, people.centre_staff, note="已电话联系")
    r = triage(people.centre_staff, case, {"urgency": "urgent", "reason": "x"}, HTTP_IF_MATCH=tag)
    assert r.status_code == 409
    assert Grievance.objects.get(pk=case.pk).urgency == "normal"


# --- a new category re-proposes the routing --------------------------------------------------


def test_a_new_category_re_proposes_the_handling_level(case, people, tree, depts):
    RoutingRule.objects.create(
        category=Category.objects.get(code="hazard.road"),
        region=tree.county,
        lead=depts.transport,
        handling_level="county",
    )
    relay_batch()
    assert Grievance.objects.get(pk=case.pk).handling_level == ""
    triage(people.centre_staff, case, {"category": "hazard.road", "reason": "是道路问题"})
    relay_batch()
    assert Grievance.objects.get(pk=case.pk).handling_level == "county"
    # And back: no rule for the environment, no proposal.
    triage(people.centre_staff, case, {"category": "hazard.environment", "reason": "改回"})
    relay_batch()
    assert Grievance.objects.get(pk=case.pk).handling_level == ""


# --- accept: the handling level --------------------------------------------------------------


@pytest.fixture
def proposed(case, tree, depts):
    """The case with the routing rule's proposal (county) made at submission."""
    RoutingRule.objects.create(
        category=Category.objects.get(code="hazard.environment"),
        region=tree.county,
        lead=depts.transport,
        handling_level="county",
    )
    relay_batch()
    assert Grievance.objects.get(pk=case.pk).handling_level == "county"
    return Grievance.objects.get(pk=case.pk)


@pytest.mark.parametrize(
    "complexity, level", [("simple", "village"), ("complex", "township"), ("difficult", "county")]
)
def test_by_complexity_decides_the_level_whatever_was_proposed(proposed, people, complexity, level):
    r = post_act(
        api_as(people.centre_staff),
        proposed,
        "accept",
        {"complexity": complexity, "handling_level": "by_complexity"},
    )
    assert r.status_code == 200, r.json()
    assert (r.json()["complexity"], r.json()["handling_level"]) == (complexity, level)


def test_an_omitted_level_keeps_the_routing_proposal(proposed, people):
    r = post_act(api_as(people.centre_staff), proposed, "accept", {"complexity": "simple"})
    assert r.json()["handling_level"] == "county"


@pytest.mark.parametrize(
    "choice, level", [("by_complexity", "village"), ("", "county"), ("township", "township")]
)
def test_the_accept_form_s_level(proposed, people, choice, level):
    page = client_as(people.centre_staff).get(f"/cases/{proposed.pk}/")
    text = unescape(page.content.decode())
    assert "按路由规则建议：县（区）" in text
    r = client_as(people.centre_staff).post(
        f"/cases/{proposed.pk}/act/accept/",
        {"complexity": "simple", "handling_level": choice, "urgency": "normal", "note": ""},
    )
    assert r.status_code == 302
    assert Grievance.objects.get(pk=proposed.pk).handling_level == level


def test_the_header_shows_no_handling_level_before_acceptance(proposed, people):
    def header(case) -> str:
        text = client_as(people.centre_staff).get(f"/cases/{case.pk}/").content.decode()
        return text[text.index('class="case-head') : text.index("</section>")]

    assert "办理层级" not in header(proposed)
    services.grievance_accept(proposed, people.centre_staff, complexity="complex")
    assert "办理层级" in header(proposed) and "县（区）" in header(proposed)


# --- the urgency: the resident's suggestion, the centre's decision ---------------------------


def test_a_residents_urgency_is_a_suggestion_and_the_centres_sets_the_deadlines(tree, people):
    case = new_case(None, category="hazard.environment", urgency="most_urgent")
    assert (case.urgency, case.suggested_urgency) == ("normal", "most_urgent")
    page = client_as(people.centre_staff).get(f"/cases/{case.pk}/")
    assert "居民建议：特急" in unescape(page.content.decode())
    body = api_as(people.centre_staff).get(f"/api/v1/grievances/{case.pk}/").json()
    assert (body["urgency"], body["suggested_urgency"]) == ("normal", "most_urgent")
    # The centre decides: urgent (1 working day to handle), not the 4 hours asked for.
    r = post_act(api_as(people.centre_staff), case, "accept", {"urgency": "urgent"})
    assert r.json()["urgency"] == "urgent"
    with time_machine.travel(at(2026, 9, 29, 10), tick=False):
        services.grievance_dispatch(
            Grievance.objects.get(pk=case.pk), people.centre_staff, to_region=tree.grid_a1
        )
    fresh = Grievance.objects.get(pk=case.pk)
    assert fresh.handle_due_at == at(2026, 9, 30, 10)


def test_a_grid_workers_urgency_stands(tree, people):
    case = new_case(people.grid_worker, category="hazard.environment", urgency="urgent")
    assert (case.urgency, case.suggested_urgency) == ("urgent", "")


# --- the case page's act ---------------------------------------------------------------------


_clients: dict[int, Client] = {}


@pytest.fixture(autouse=True)
def _fresh_clients():
    _clients.clear()
    yield
    _clients.clear()


def client_as(user) -> Client:
    if user.pk not in _clients:
        _clients[user.pk] = Client()
        _clients[user.pk].force_login(user)
    return _clients[user.pk]


def _form(case) -> dict:
    return {
        "version": str(Grievance.objects.get(pk=case.pk).version),
        "category": case.category.code,
        "urgency": case.urgency,
        "lng": str(case.lng),
        "lat": str(case.lat),
        "region": "",
        "title": case.title,
        "description": case.description.replace("\n", "\r\n"),
        "reason": "核实后更正",
    }


def test_the_case_page_corrects_the_report(case, people, tree):
    page = client_as(people.centre_staff).get(f"/cases/{case.pk}/")
    text = unescape(page.content.decode())
    assert 'id="act-triage"' in text and "更正上报内容（研判）" in text
    data = {**_form(case), "category": "hazard.road", "risk_group": "on"}
    r = client_as(people.centre_staff).post(f"/cases/{case.pk}/act/triage/", data)
    assert r.status_code == 302, unescape(r.content.decode())[:3000]
    fresh = Grievance.objects.get(pk=case.pk)
    assert (fresh.category.code, fresh.risk_group) == ("hazard.road", True)
    event = last_event(case)
    assert set(event.data["changes"]) == {"category", "risk_group"}
    # The timeline says what changed and why.
    text = unescape(client_as(people.centre_staff).get(f"/cases/{case.pk}/").content.decode())
    assert "类别: 环境卫生 → 道路桥梁隐患" in text or "道路桥梁隐患" in text
    assert "核实后更正" in text


def test_the_case_page_names_the_missing_reason_and_a_form_without_changes(case, people):
    r = client_as(people.centre_staff).post(
        f"/cases/{case.pk}/act/triage/", {**_form(case), "urgency": "urgent", "reason": ""}
    )
    assert r.status_code == 400
    assert 'id="act-triage-reason_error"' in r.content.decode()
    r = client_as(people.centre_staff).post(f"/cases/{case.pk}/act/triage/", _form(case))
    assert r.status_code == 400
    assert count_events(case) == 1


def test_the_residents_report_form_says_the_urgency_is_a_suggestion(tree):
    page = Client().get("/report/")
    assert "仅作建议：紧急程度由综治中心研判确定。" in unescape(page.content.decode())
