"""Errors a user or an operator meets: a database outage answers 503 with Retry-After (the
site's page, JSON for the API), never 500, while a database error on a connection that works
(a deadlock, a timeout) stays a 500 with its traceback in the log; a 404 or 403 is one line
in the log, never a traceback."""

from __future__ import annotations

import io
import logging
import socket
from contextlib import contextmanager

import pytest
from django.db import OperationalError, connection
from django.test import Client

from config.logs import OneLineClientErrors
from tests.grievances.conftest import POINT_A1, new_case

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def database_down():
    """The database stops answering: new connections are refused (PostgreSQL on a port
    where nothing listens; SQLite in a folder that does not exist)."""
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "postgresql":
        connection.settings_dict["PORT"] = _free_port()
    else:
        connection.settings_dict["NAME"] = "/nonexistent-fengqiao/db.sqlite3"
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


def _signed_in(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.mark.django_db(transaction=True)
def test_a_database_outage_answers_503_with_the_sites_page_and_recovers(tree, people):
    staff = _signed_in(people.centre_staff)
    with database_down():
        r = staff.get("/console/", **EN)
        assert r.status_code == 503
        assert r["Retry-After"] == "30"
        html = r.content.decode()
        assert "The service is briefly unavailable" in html
        assert "Nothing you sent was saved" in html
        # Chinese by default.
        r = staff.get("/console/")
        assert r.status_code == 503
        assert "服务暂时不可用" in r.content.decode()
    # Back: the next request connects again.
    assert staff.get("/console/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_database_outage_answers_503_in_json_on_the_api(tree):
    client = Client(raise_request_exception=False)
    with database_down():
        r = client.post(
            "/api/v1/public/grievances/",
            {
                "title": "楼道水管漏水",
                "description": "三单元楼道水管漏水",
                "category": "hazard.utilities",
                "lng": POINT_A1[0],
                "lat": POINT_A1[1],
                "complainants": [{"name": "赵六", "phone": "13912345678"}],
            },
            content_type="application/json",
            **EN,
        )
    assert r.status_code == 503
    assert r["Retry-After"] == "30"
    assert r["Content-Type"] == "application/json"
    assert "try again" in r.json()["detail"]


@pytest.mark.django_db
def test_other_server_errors_stay_500(monkeypatch):
    import grievances.views_track as views_track

    def broken(request):
        raise RuntimeError("a bug")

    monkeypatch.setattr(views_track, "_render_track", lambda *a, **k: broken(None))
    r = Client(raise_request_exception=False).get("/track/", **EN)
    assert r.status_code == 500
    assert "Retry-After" not in r


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
def test_a_connection_lost_mid_request_answers_503(monkeypatch, people):
    import grievances.views_track as views_track

    def server_goes_away(*args, **kwargs):
        # The server ends this very connection, as a restart or a failover does.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    monkeypatch.setattr(views_track, "_render_track", server_goes_away)
    client = _signed_in(people.centre_staff)
    r = client.get("/track/", **EN)
    assert r.status_code == 503
    assert r["Retry-After"] == "30"
    # Outside tests, the end of each request drops a connection that no longer works (the
    # test client leaves that out); the next request then connects again.
    connection.close_if_unusable_or_obsolete()
    monkeypatch.undo()
    assert client.get("/track/", **EN).status_code == 200


@contextmanager
def request_log():
    """What the settings' console handler of django.request writes, into a buffer."""
    (handler,) = [
        h
        for h in logging.getLogger("django.request").handlers
        if any(isinstance(f, OneLineClientErrors) for f in h.filters)
    ]
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(previous)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "error",
    [
        OperationalError("deadlock detected"),
        OperationalError("canceling statement due to statement timeout"),
        OperationalError("database is locked"),
    ],
    ids=str,
)
def test_a_database_error_on_a_working_connection_is_a_500_with_its_traceback(
    monkeypatch, people, error
):
    import grievances.views_track as views_track

    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(views_track, "_render_track", broken)
    client = _signed_in(people.centre_staff)
    with request_log() as log:
        r = client.get("/track/", **EN)
    assert connection.is_usable()
    assert r.status_code == 500
    assert "Retry-After" not in r
    assert "briefly unavailable" not in r.content.decode()
    logged = log.getvalue()
    assert "Traceback" in logged
    assert f"django.db.utils.OperationalError: {error}" in logged


@pytest.mark.django_db
def test_a_404_or_403_is_one_line_in_the_log(tree, people):
    case = new_case(people.grid_worker)
    outsider = _signed_in(people.outsider)
    worker = _signed_in(people.grid_worker)
    with request_log() as buffer:
        assert outsider.get(f"/cases/{case.pk}/").status_code == 404
        assert outsider.get("/cases/987654321/").status_code == 404
        # A grid worker sees the case but may not accept it: 403.
        assert worker.post(f"/cases/{case.pk}/act/accept/", {}).status_code == 403
    err = buffer.getvalue()
    assert f"Not Found: /cases/{case.pk}/" in err
    assert f"Forbidden (Permission denied): /cases/{case.pk}/act/accept/" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 3


def test_the_api_answers_json_for_an_unknown_path():
    r = Client().get("/api/v1/no-such-thing/")
    assert r.status_code == 404
    assert r["Content-Type"] == "application/json"
