"""事事有回音 on a real broker and worker: three complainants of a public report hear of
each milestone by SMS, rate through the link in the last one, and a TD reply stops the
rest for that number.

The SMS gateway is the edge of the world: the worker sends through a backend that appends
each message to a file, one JSON line each (tests/integration/sms_file.py).
"""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

from grievances.models import Grievance
from tests.grievances.conftest import as_user
from tests.integration.conftest import Worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SITE = "https://fq.example.cn"
PHONES = ["13800001111", "13900002222", "13700003333"]
TOKEN = "inbound-s3cret"


class MessagingWorker(Worker):
    """The worker, sending SMS into a file, with no quiet hours."""

    def __init__(self, broker, log_path, outbox):
        super().__init__(broker, log_path)
        self.outbox = outbox

    def env(self) -> dict:
        return {
            **super().env(),
            "SMS_BACKEND": "tests.integration.sms_file.FileBackend",
            "SMS_FILE": str(self.outbox),
            "NOTIFY_QUIET_HOURS": "",
            "SITE_URL": SITE,
        }


@pytest.fixture
def outbox(tmp_path):
    path = tmp_path / "sms.jsonl"
    path.touch()
    return path


@pytest.fixture
def messaging_worker(broker, transactional_db, tmp_path, outbox, settings):
    settings.SITE_URL = SITE
    settings.SMS_INBOUND_TOKEN = TOKEN
    w = MessagingWorker(broker, tmp_path / "worker.log", outbox)
    w.start()
    yield w
    w.stop()


def received(outbox) -> dict[str, list[str]]:
    got: dict[str, list[str]] = {p: [] for p in PHONES}
    for line in outbox.read_text().splitlines():
        message = json.loads(line)
        got.setdefault(message["phone"], []).append(message["text"])
    return got


def count(outbox) -> int:
    return len(outbox.read_text().splitlines())


def act(client, case, name: str, data: dict | None = None) -> None:
    r = client.post(f"/api/v1/grievances/{case.pk}/{name}/", data or {}, format="json")
    assert r.status_code == 200, r.content


def test_three_complainants_hear_back_rate_by_the_link_and_one_says_no(
    tree, people, messaging_worker, outbox
):
    r = APIClient().post(
        "/api/v1/public/grievances/",
        {
            "title": "楼道水管漏水",
            "description": "三单元楼道水管漏水，墙面发霉",
            "category": "hazard.utilities",
            "lng": 91.2,
            "lat": 29.7,
            "complainants": [
                {"name": "张三", "phone": PHONES[0]},
                {"name": "李四", "phone": PHONES[1]},
                {"name": "王五", "phone": PHONES[2]},
            ],
        },
        format="json",
    )
    assert r.status_code == 201, r.content
    case = Grievance.objects.get(tracking_code=r.json()["tracking_code"].replace("-", ""))
    code = case.display_code
    try:
        wait_for(lambda: count(outbox) == 3, 30, what="the three registration messages")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{messaging_worker.output()[-4000:]}") from None

    centre = as_user(people.centre_staff)
    assert (
        centre.post(f"/api/v1/grievances/{case.pk}/accept/", {}, format="json").status_code == 200
    )
    wait_for(lambda: count(outbox) == 6, 30, what="the acceptance")

    # The third complainant replies TD: nothing more reaches that number.
    hook = APIClient().post(
        "/api/v1/sms/inbound/",
        {"phone": PHONES[2], "text": "TD"},
        format="json",
        HTTP_X_INBOUND_TOKEN=TOKEN,
    )
    assert hook.status_code == 200 and hook.json() == {"opted_out": True}

    act(centre, case, "dispatch", {"to_region": tree.grid_a1.code})
    wait_for(lambda: count(outbox) == 8, 30, what="the transfer")
    worker = as_user(people.grid_worker)
    assert (
        worker.post(f"/api/v1/grievances/{case.pk}/report_in/", {}, format="json").status_code
        == 200
    )
    r = worker.post(
        f"/api/v1/grievances/{case.pk}/handle/", {"result": "已更换水管"}, format="json"
    )
    assert r.status_code == 200, r.content
    assert (
        centre.post(f"/api/v1/grievances/{case.pk}/verify/", {}, format="json").status_code == 200
    )
    wait_for(lambda: count(outbox) == 10, 30, what="the closing")

    got = received(outbox)
    for phone in PHONES[:2]:
        registered, accepted, transferred, closed = got[phone]
        assert all(t.startswith("【枫桥】") and code in t for t in got[phone])
        assert "已登记" in registered and f"{SITE}/t/{case.tracking_code}/" in registered
        assert "已受理" in accepted
        assert "已转" in transferred and tree.grid_a1.name in transferred
        assert "已办结" in closed and "评价" in closed
    assert len(got[PHONES[2]]) == 2  # registered and accepted, then TD

    # The first complainant rates through the link in the message: no code to type.
    link = re.search(rf"{re.escape(SITE)}(/r/[0-9A-Za-z]{{10}})", got[PHONES[0]][-1]).group(1)
    phone = Client()
    form = phone.get(link)
    assert form.status_code == 200 and 'name="score"' in form.content.decode()
    r = phone.post(link, {"score": "5", "resolved": "yes", "comment": "修得很快"})
    assert r.status_code in (200, 302)
    assert case.ratings.get(complainant__phone=PHONES[0]).score == 5
