"""The staff case pages: /cases/ (list, filters, keyset pages, htmx), /cases/<id>/ (detail,
one form per available act) and POST /cases/<id>/act/<name>/ (the API's acts through forms,
with the errors a person can read)."""

from __future__ import annotations

import io
import re
from html import unescape

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from PIL import Image

from dispatch.models import Assignment, RoutingRule, Whistle
from grids.models import Role
from grievances import services
from grievances.forms_cases import ACT_FORMS, HandleForm
from grievances.models import Attachment, CaseEvent, Category, Grievance, State, Urgency
from grievances.templatetags.cases import due_for, human_duration, masked_phone
from tests.factories import UserFactory, make_member
from tests.grievances.conftest import PHONE, POINT_B1, advance, at, new_case

pytestmark = pytest.mark.django_db

LIST = "/cases/"


def detail_url(case) -> str:
    return f"/cases/{case.pk}/"


def act_url(case, name: str) -> str:
    return f"/cases/{case.pk}/act/{name}/"


_clients: dict[int, Client] = {}


@pytest.fixture(autouse=True)
def _fresh_clients():
    _clients.clear()
    yield
    _clients.clear()


def client_as(user) -> Client:
    """One logged-in client per user within a test."""
    client = _clients.get(user.pk)
    if client is None:
        client = Client()
        client.force_login(user)
        _clients[user.pk] = client
    return client


def text_of(response) -> str:
    return unescape(response.content.decode())


def codes_in(response) -> list[str]:
    """Tracking codes of the rows of a list page, in order."""
    return re.findall(
        r'class="mono" href="/cases/\d+/">([0-9A-Z]{4}-[0-9A-Z]{4})<', text_of(response)
    )


def follow_messages(response) -> str:
    """The text of the messages shown on the page a redirect leads to."""
    return " ".join(re.findall(r'<li class="message[^"]*">(.*?)</li>', text_of(response), re.S))


def png(name="evidence.png") -> io.BytesIO:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (40, 120, 200)).save(buf, "PNG")
    buf.seek(0)
    buf.name = name
    return buf


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def cases(tree, people):
    """Cases in township A (two grids), township B and the other tree."""
    b_worker = make_member("b_worker", tree.grid_b1, Role.GRID_WORKER)
    with time_machine.travel(at(2026, 3, 2, 10), tick=False) as clock:
        road = new_case(people.grid_worker, category="hazard.road", title="A路面塌陷")
        dispute = new_case(
            people.grid_worker, category="dispute.neighbours", title="A邻里纠纷", risk_petition=True
        )
        clock.move_to(at(2026, 3, 3, 10))
        resident = new_case(None, title="A居民来信")
        clock.move_to(at(2026, 3, 4, 10))
        town_b = new_case(b_worker, title="B校门口积水", point=POINT_B1, risk_group=True)
        outside = new_case(people.outsider, region=tree.other_county, title="X乡城县案件")
        road = advance(road, State.DISPATCHED, people)
    return {
        "road": road,
        "dispute": dispute,
        "resident": resident,
        "town_b": town_b,
        "outside": outside,
    }


def titles(response) -> set[str]:
    return set(re.findall(r'<a href="/cases/\d+/">([^<]+)</a>', text_of(response)))


# --- The list ------------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_log_in(tree, cases):
    for url in (LIST, detail_url(cases["road"])):
        r = Client().get(url)
        assert r.status_code == 302 and "login" in r.url
    r = Client().post(act_url(cases["road"], "note"), {"note": "x"})
    assert r.status_code == 302 and "login" in r.url


def test_the_list_shows_the_cases_of_the_users_scope_only(tree, people, cases):
    r = client_as(people.centre_staff).get(LIST)
    assert r.status_code == 200
    assert titles(r) == {"A路面塌陷", "A邻里纠纷", "A居民来信"}
    # The sibling township's case is absent, and so is the other tree's.
    assert "B校门口积水" not in text_of(r) and "X乡城县案件" not in text_of(r)
    assert titles(client_as(people.sibling_staff).get(LIST)) == {"B校门口积水"}
    assert titles(client_as(people.leader).get(LIST)) == {
        "A路面塌陷",
        "A邻里纠纷",
        "A居民来信",
        "B校门口积水",
    }
    # Somebody with no membership at all sees nothing.
    nobody = UserFactory(username="nobody")
    r = client_as(nobody).get(LIST)
    assert r.status_code == 200 and titles(r) == set()


def test_the_outsiders_list_holds_nothing_of_this_tree(tree, people, cases):
    r = client_as(people.outsider).get(LIST)
    assert titles(r) == {"X乡城县案件"}


def test_newest_first_with_code_state_risk_and_deadline(tree, people, cases):
    with time_machine.travel(at(2026, 3, 20, 10), tick=False):
        r = client_as(people.centre_staff).get(LIST)
    page = text_of(r)
    codes = codes_in(r)
    assert codes == [cases[k].display_code for k in ("resident", "dispute", "road")]
    # zh-Hans by default: state and urgency labels in Chinese.
    assert "待受理" in page and "已派单" in page
    assert 'class="risk risk--petition"' in page
    # The road case was dispatched on 2026-03-04 and is overdue on 03-20: red countdown.
    assert "due due--overdue" in page
    assert 'lang="zh-hans"' in page


def test_filters_reuse_the_api_filter(tree, people, cases):
    client = client_as(people.centre_staff)

    def got(**params):
        return titles(client.get(LIST, params))

    assert got(state="submitted") == {"A邻里纠纷", "A居民来信"}
    assert got(state=["dispatched", "accepted"]) == {"A路面塌陷"}
    assert got(category="dispute") == {"A邻里纠纷"}
    assert got(risk="petition") == {"A邻里纠纷"}
    assert got(source="resident_web") == {"A居民来信"}
    assert got(urgency=cases["road"].urgency, state="dispatched") == {"A路面塌陷"}
    assert got(region=tree.grid_a1.code) == {"A路面塌陷", "A邻里纠纷", "A居民来信"}
    assert got(region=tree.town_b.code) == set()  # outside the scope stays outside
    assert got(q="邻里") == {"A邻里纠纷"}
    code = cases["resident"].display_code.lower()
    assert got(q=code) == {"A居民来信"}
    with time_machine.travel(at(2026, 3, 20, 10), tick=False):
        assert got(overdue="true") == {"A路面塌陷"}
        assert got(overdue="false") == {"A邻里纠纷", "A居民来信"}
    # An unknown choice is a form error, shown next to its field.
    r = client.get(LIST, {"state": "nonsense"})
    assert r.status_code == 200 and "field__errors" in text_of(r)


def test_htmx_requests_get_the_table_only(tree, people, cases):
    client = client_as(people.centre_staff)
    r = client.get(LIST, {"risk": "petition"}, headers={"HX-Request": "true"})
    assert r.status_code == 200
    body = text_of(r)
    assert "<html" not in body and "case-table" in body
    assert titles(r) == {"A邻里纠纷"}
    assert "HX-Request" in r.headers["Vary"]
    # The full page carries the htmx attributes and works as a plain GET form too.
    page = text_of(client.get(LIST))
    assert 'hx-get="/cases/"' in page and 'hx-target="#case-results"' in page
    assert 'hx-push-url="true"' in page and 'method="get"' in page


def _many(people, n: int, start=0):
    with time_machine.travel(at(2026, 3, 2, 9), tick=True):
        return [
            new_case(
                people.grid_worker,
                title=f"案件{i:02d}",
                risk_group=bool(i % 3 == 0),
            )
            for i in range(start, start + n)
        ]


def _count_list_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        r = client.get(LIST)
    assert r.status_code == 200
    return len(ctx.captured_queries)


def test_the_list_costs_the_same_queries_for_5_or_30_cases(
    tree, people, django_assert_max_num_queries
):
    client = client_as(people.centre_staff)
    _many(people, 5)
    few = _count_list_queries(client)
    _many(people, 25, start=5)
    many = _count_list_queries(client)
    assert few == many
    with django_assert_max_num_queries(12):
        client.get(LIST, {"state": "submitted", "category": "hazard", "region": tree.town_a.code})


def test_keyset_pages_walk_older_and_back(tree, people):
    made = _many(people, 30)
    newest_first = [c.display_code for c in reversed(made)]
    client = client_as(people.centre_staff)
    first = client.get(LIST)
    assert codes_in(first) == newest_first[:25]
    older = re.search(r'href="(/cases/\?after=[^"]+)"', text_of(first)).group(1)
    second = client.get(older)
    assert codes_in(second) == newest_first[25:]
    assert 'rel="next"' not in text_of(second)  # nothing older
    newer = re.search(r'href="(/cases/\?before=[^"]+)"', text_of(second)).group(1)
    assert codes_in(client.get(newer)) == newest_first[:25]
    # A broken cursor is the first page, not an error.
    assert codes_in(client.get(LIST, {"after": "garbage"})) == newest_first[:25]


# --- The detail ----------------------------------------------------------------------------------


def test_detail_is_404_outside_the_scope(tree, people, cases):
    road = cases["road"]
    assert client_as(people.centre_staff).get(detail_url(road)).status_code == 200
    assert client_as(people.outsider).get(detail_url(road)).status_code == 404
    assert client_as(people.sibling_staff).get(detail_url(road)).status_code == 404
    # Acting outside the scope is a 404 too: nothing says the case exists.
    r = client_as(people.sibling_staff).post(act_url(road, "note"), {"note": "x"})
    assert r.status_code == 404


def test_detail_shows_map_timeline_people_and_durations(tree, people, cases, settings):
    settings.MAP_TILE_URL = "/tiles/{z}/{x}/{y}.png"
    road = cases["road"]
    r = client_as(people.centre_staff).get(detail_url(road))
    page = text_of(r)
    assert road.display_code in page and road.title in page
    # The map: Leaflet from django-leaflet's static files, tiles from the setting, and the
    # point printed for when the tiles (or the script) do not load.
    assert "/static/leaflet/leaflet.js" in page and "/static/leaflet/leaflet.css" in page
    assert 'data-tiles="/tiles/{z}/{x}/{y}.png"' in page
    assert 'data-lat="29.700000"' in page and "29.70000, 91.20000" in page
    # Timeline in Beijing time, in order, with actor labels and markers.
    timeline = page[page.index('class="timeline"') :]
    assert "2026-03-02 10:00" in timeline and "2026-03-04 10:00" in timeline
    assert timeline.index("2026-03-02 10:00") < timeline.index("2026-03-04 10:00")
    assert "泽当街道" in page  # the centre that accepted and dispatched
    assert "marker--public" in page
    # The centre sees the phone in full.
    assert PHONE in page
    # Deadlines and the durations so far (accepted and dispatched at once: under a minute).
    assert "durations" in page


def test_the_pages_speak_english_when_asked(tree, people, cases):
    client = client_as(people.centre_staff)
    en = {"HTTP_ACCEPT_LANGUAGE": "en"}
    page = text_of(client.get(detail_url(cases["resident"]), **en))
    assert "What you can do" in page and "Submitted" in page and 'lang="en"' in page
    page = text_of(client.get(LIST, **en))
    assert "Show cases" in page and "Submitted" in page


def test_phones_are_masked_for_a_leader(tree, people, cases):
    road = cases["road"]
    page = text_of(client_as(people.leader).get(detail_url(road)))
    assert masked_phone(PHONE) == "138****1234"
    assert "138****1234" in page and PHONE not in page


def test_buttons_follow_the_role(tree, people, cases):
    submitted = cases["resident"]
    centre = text_of(client_as(people.centre_staff).get(detail_url(submitted)))
    assert f'action="{act_url(submitted, "accept")}"' in centre
    assert f'action="{act_url(submitted, "reject")}"' in centre
    assert "受理" in centre  # the act's label in Chinese
    worker = text_of(client_as(people.grid_worker).get(detail_url(submitted)))
    assert f'action="{act_url(submitted, "accept")}"' not in worker
    assert f'action="{act_url(submitted, "note")}"' in worker
    # One form per available act, and nothing else.
    acts = services.available_acts(submitted, people.centre_staff)
    assert sorted(re.findall(r'action="/cases/\d+/act/(\w+)/"', centre)) == sorted(acts)


def test_a_role_without_the_act_gets_403(tree, people, cases):
    r = client_as(people.grid_worker).post(act_url(cases["resident"], "accept"), {})
    assert r.status_code == 403
    assert Grievance.objects.get(pk=cases["resident"].pk).state == State.SUBMITTED


def test_unknown_act_is_404_and_get_is_405(tree, people, cases):
    client = client_as(people.centre_staff)
    assert client.post(act_url(cases["resident"], "explode"), {}).status_code == 404
    assert client.get(act_url(cases["resident"], "accept")).status_code == 405


def test_every_act_has_a_form():
    from grievances.api import ACTS

    assert set(ACT_FORMS) == set(ACTS) == set(services.RULES)


# --- The loop through the pages ------------------------------------------------------------------


def test_accept_dispatch_report_in_handle_verify_through_the_pages(tree, people, depts, media):
    case = new_case(people.grid_worker, category="hazard.road", title="挡墙险情")
    centre = client_as(people.centre_staff)

    r = centre.post(
        act_url(case, "accept"), {"complexity": "complex", "handling_level": "county", "note": ""}
    )
    assert r.status_code == 302 and r.url == detail_url(case)
    case.refresh_from_db()
    assert (case.state, case.complexity, case.handling_level) == ("accepted", "complex", "county")

    # The dispatch form offers the departments serving the case's region and its ancestors.
    page = text_of(centre.get(detail_url(case)))
    assert "乃东区交通运输局" in page and "泽当派出所" in page
    assert "乡城县交通运输局" not in page
    r = centre.post(
        act_url(case, "dispatch"),
        {
            "mode": "departments",
            "lead": depts.transport.pk,
            "assisting": [depts.police.pk],
            "note": "请立即处置",
        },
        follow=True,
    )
    assert r.status_code == 200
    case.refresh_from_db()
    assert case.state == State.DISPATCHED
    whistle = Whistle.objects.get(grievance=case)
    assert list(whistle.assignments.values_list("department__code", "role")) == [
        ("nd-transport", "lead"),
        ("zd-police", "assisting"),
    ]
    page = text_of(r)
    assert "乃东区交通运输局" in page and "whistle" in page

    transport = client_as(depts.staff.transport)
    page = text_of(transport.get(detail_url(case)))
    assert f'action="{act_url(case, "report_in")}"' in page
    assert f'action="{act_url(case, "accept")}"' not in page
    r = transport.post(act_url(case, "report_in"), {"note": "马上出发"})
    assert r.status_code == 302
    case.refresh_from_db()
    assert case.state == State.IN_PROGRESS
    # Signed through the lead assignment: the whistle and the case move together.
    lead = Assignment.objects.get(whistle=whistle, role="lead")
    assert lead.status == Assignment.Status.REPORTED_IN

    r = transport.post(
        act_url(case, "handle"), {"result": "险情排除", "photos": [png("a.png"), png("b.png")]}
    )
    assert r.status_code == 302, text_of(r)[:2000]
    case.refresh_from_db()
    assert case.state == State.HANDLED and case.result == "险情排除"
    handle_event = CaseEvent.objects.get(grievance=case, action="handle")
    photos = list(Attachment.objects.filter(grievance=case))
    assert len(photos) == 2 and all(p.event_id == handle_event.pk for p in photos)

    page = text_of(centre.get(detail_url(case)))
    for photo in photos:
        assert f'href="/cases/attachments/{photo.pk}/"' in page
        assert f'src="/cases/attachments/{photo.pk}/thumbnail/"' in page
    r = centre.post(act_url(case, "verify"), {"note": "核查属实"}, follow=True)
    case.refresh_from_db()
    assert case.state == State.CLOSED
    assert "已办结" in text_of(r)
    assert Assignment.objects.get(pk=lead.pk).status == Assignment.Status.DONE


def test_the_detail_costs_the_same_queries_whatever_its_history(
    tree, people, depts, media, django_assert_max_num_queries
):
    case = advance(new_case(people.grid_worker, category="hazard.road"), State.ACCEPTED, people)
    centre = client_as(people.centre_staff)
    centre.post(
        act_url(case, "dispatch"),
        {"mode": "departments", "lead": depts.transport.pk, "assisting": [depts.police.pk]},
    )

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert centre.get(detail_url(case)).status_code == 200
        return len(ctx.captured_queries)

    short = count()
    for i in range(4):
        centre.post(act_url(case, "note"), {"note": f"进展{i}", "photos": [png()]})
    client_as(depts.staff.transport).post(act_url(case, "return"), {"reason": "非本部门"})
    centre.post(act_url(case, "dispatch"), {"mode": "departments", "lead": depts.labour.pk})
    assert count() <= short + 2  # the act forms differ with the state, the history does not
    with django_assert_max_num_queries(30):
        centre.get(detail_url(case))


def test_dispatch_takes_the_proposal(tree, people, depts):
    rule = RoutingRule.objects.create(
        category=Category.objects.get(code="hazard.road"), region=tree.county, lead=depts.transport
    )
    rule.assisting.add(depts.police)
    case = advance(new_case(people.grid_worker, category="hazard.road"), State.ACCEPTED, people)
    centre = client_as(people.centre_staff)
    page = text_of(centre.get(detail_url(case)))
    assert 'value="proposed"' in page
    r = centre.post(act_url(case, "dispatch"), {"mode": "proposed"})
    assert r.status_code == 302
    roles = dict(
        Assignment.objects.filter(whistle__grievance=case).values_list("department__code", "role")
    )
    assert roles == {"nd-transport": "lead", "zd-police": "assisting"}


def test_dispatch_down_to_a_grid(tree, people):
    case = advance(new_case(people.grid_worker), State.ACCEPTED, people)
    centre = client_as(people.centre_staff)
    page = text_of(centre.get(detail_url(case)))
    assert "江塘村第二网格" in page and "克松村第一网格" not in page  # inside the centre only
    r = centre.post(act_url(case, "dispatch"), {"mode": "region", "to_region": tree.grid_a1.code})
    assert r.status_code == 302
    case.refresh_from_db()
    assert case.state == State.DISPATCHED and case.handler_region_id == tree.grid_a1.pk
    # The grid worker now reports in and handles from the page.
    worker = client_as(people.grid_worker)
    assert worker.post(act_url(case, "report_in"), {}).status_code == 302
    assert worker.post(act_url(case, "handle"), {"result": "已清理"}).status_code == 302
    case.refresh_from_db()
    assert case.state == State.HANDLED


def test_dispatch_form_errors_stay_next_to_their_fields(tree, people, depts):
    case = advance(new_case(people.grid_worker), State.ACCEPTED, people)
    centre = client_as(people.centre_staff)
    r = centre.post(act_url(case, "dispatch"), {"mode": "departments"})
    assert r.status_code == 400
    page = text_of(r)
    assert re.search(r'<details class="act act--dispatch" id="act-dispatch" open>', page)
    assert re.search(r'id="act-dispatch-lead".*?field__errors', page, re.S)
    r = centre.post(
        act_url(case, "dispatch"),
        {"mode": "departments", "lead": depts.transport.pk, "assisting": [depts.transport.pk]},
    )
    assert r.status_code == 400
    assert Grievance.objects.get(pk=case.pk).state == State.ACCEPTED


def test_return_without_a_reason_shows_the_error_next_to_the_field(tree, people):
    case = advance(new_case(people.grid_worker), State.IN_PROGRESS, people)
    r = client_as(people.grid_worker).post(act_url(case, "return"), {"reason": "  "})
    assert r.status_code == 400
    page = text_of(r)
    form = re.search(
        r'<details class="act act--return" id="act-return" open>(.*?)</details>', page, re.S
    )
    assert form, "the return form is open"
    assert "field--error" in form.group(1) and "field__errors" in form.group(1)
    assert 'id="act-return-reason"' in form.group(1)
    # The other forms stay closed.
    assert '<details class="act act--handle" id="act-handle">' in page
    assert Grievance.objects.get(pk=case.pk).state == State.IN_PROGRESS


def test_service_errors_land_next_to_the_field_they_name(tree, people, cases):
    r = client_as(people.centre_staff).post(
        act_url(cases["resident"], "reject"), {"reason_code": "duplicate"}
    )
    assert r.status_code == 400
    form = re.search(
        r'<details class="act act--reject" id="act-reject" open>(.*?)</details>', text_of(r), re.S
    ).group(1)
    assert re.search(r'id="act-reject-duplicate_of".*?field__errors', form, re.S)


def test_reject_as_a_duplicate_by_code(tree, people, cases):
    original, copy = cases["dispute"], cases["resident"]
    r = client_as(people.centre_staff).post(
        act_url(copy, "reject"),
        {"reason_code": "duplicate", "reason": "重复", "duplicate_of": original.display_code},
    )
    assert r.status_code == 302
    copy.refresh_from_db()
    assert copy.state == State.REJECTED and copy.duplicate_of_id == original.pk


def test_a_case_that_moved_on_says_so(tree, people, cases):
    case = cases["resident"]
    centre = client_as(people.centre_staff)
    assert centre.post(act_url(case, "accept"), {"complexity": "simple"}).status_code == 302
    # A second click from the page loaded before: the state no longer allows it.
    r = centre.post(act_url(case, "accept"), {"complexity": "simple"}, follow=True)
    assert r.redirect_chain == [(detail_url(case), 302)]
    shown = follow_messages(r)
    assert "该案件状态已变化" in shown and "已受理" in shown
    assert CaseEvent.objects.filter(grievance=case, action="accept").count() == 1


def test_two_people_at_once_the_loser_is_told_and_nothing_is_half_done(
    tree, people, media, monkeypatch
):
    case = advance(new_case(people.grid_worker), State.IN_PROGRESS, people)
    other = make_member("other_worker", tree.grid_a1, Role.GRID_WORKER)
    original = HandleForm.api_data

    def racing(self):
        # The other worker reports the result between this request's checks and its write.
        services.grievance_handle(Grievance.objects.get(pk=case.pk), other, result="他先办好了")
        return original(self)

    monkeypatch.setattr(HandleForm, "api_data", racing)
    r = client_as(people.grid_worker).post(
        act_url(case, "handle"), {"result": "我也办好了", "photos": [png()]}, follow=True
    )
    assert r.redirect_chain == [(detail_url(case), 302)]
    assert "该案件状态已变化" in follow_messages(r)
    case.refresh_from_db()
    assert case.result == "他先办好了"
    assert CaseEvent.objects.filter(grievance=case, action="handle").count() == 1
    # The loser's photo went with the rolled-back act: no row, no file.
    assert not Attachment.objects.filter(grievance=case).exists()
    assert [p for p in media.rglob("*") if p.is_file()] == []


def test_extension_request_then_the_centre_approves(tree, people, depts):
    case = advance(new_case(people.grid_worker), State.ACCEPTED, people)
    centre = client_as(people.centre_staff)
    centre.post(act_url(case, "dispatch"), {"mode": "departments", "lead": depts.labour.pk})
    labour = client_as(depts.staff.labour)
    assert labour.post(act_url(case, "report_in"), {}).status_code == 302
    case.refresh_from_db()
    due = case.handle_due_at
    r = labour.post(act_url(case, "extend"), {"days": "", "reason": ""})
    assert r.status_code == 400
    r = labour.post(act_url(case, "extend"), {"days": 3, "reason": "等待材料"})
    assert r.status_code == 302
    page = text_of(centre.get(detail_url(case)))
    assert 'name="decision" value="approve"' in page and 'name="decision" value="refuse"' in page
    assert "等待材料" in page
    r = centre.post(act_url(case, "extend"), {"decision": "approve", "days": "", "reason": ""})
    assert r.status_code == 302
    case.refresh_from_db()
    assert case.extension_requested_days is None and case.handle_due_at > due


def test_note_with_public_flag_and_a_photo(tree, people, media):
    case = new_case(people.grid_worker)
    r = client_as(people.grid_worker).post(
        act_url(case, "note"), {"note": "施工队已到场", "public": "on", "photos": [png()]}
    )
    assert r.status_code == 302
    event = CaseEvent.objects.get(grievance=case, action="note")
    assert event.public and event.note == "施工队已到场"
    photo = Attachment.objects.get(grievance=case)
    assert photo.event_id == event.pk and photo.public
    # A file that is not a photo is an error next to the photos field; nothing is kept.
    bad = io.BytesIO(b"not an image")
    bad.name = "x.png"
    r = client_as(people.grid_worker).post(
        act_url(case, "note"), {"note": "再传一张", "photos": [bad]}
    )
    assert r.status_code == 400
    assert re.search(r'id="act-note-photos".*?field__errors', text_of(r), re.S)
    assert CaseEvent.objects.filter(grievance=case, action="note").count() == 1


def test_suspend_and_resume_and_urge_by_a_leader(tree, people):
    case = advance(new_case(people.grid_worker), State.DISPATCHED, people)
    centre = client_as(people.centre_staff)
    assert centre.post(act_url(case, "suspend"), {"reason": "等待法院判决"}).status_code == 302
    page = text_of(centre.get(detail_url(case)))
    assert f'action="{act_url(case, "resume")}"' in page
    assert f'action="{act_url(case, "suspend")}"' not in page
    # Suspending again (a stale page): the precondition says why.
    r = centre.post(act_url(case, "suspend"), {"reason": "再挂起"}, follow=True)
    assert "该案件状态已变化" in follow_messages(r)
    assert centre.post(act_url(case, "resume"), {}).status_code == 302
    assert (
        client_as(people.leader).post(act_url(case, "urge"), {"note": "请加快"}).status_code == 302
    )
    case.refresh_from_db()
    assert case.suspended_at is None and case.urge_count == 1


# --- Template helpers ----------------------------------------------------------------------------


def test_durations_read_like_people_write_them():
    with translation.override("en"):
        assert human_duration(3 * 3600 + 60) == "3 h 1 min"
        assert human_duration(2 * 86400 + 5 * 3600) == "2 d 5 h"
        assert human_duration(20) == "under a minute"


def test_countdown_colours(tree, people):
    case = advance(new_case(people.grid_worker), State.IN_PROGRESS, people)
    case.urgency = Urgency.NORMAL
    case.handle_due_at = at(2026, 3, 10, 17, 0)
    assert due_for(case, at(2026, 3, 10, 9, 0)).kind == "today"
    assert due_for(case, at(2026, 3, 9, 9, 0)).kind == "later"
    assert due_for(case, at(2026, 3, 11, 9, 0)).kind == "overdue"
    case.suspended_at = timezone.now()
    assert due_for(case, at(2026, 3, 11, 9, 0)).kind == "paused"
