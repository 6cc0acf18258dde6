"""Dispatch: submit-to-dispatched latency, the SLA sweep and the console at 1,000,000 cases.

Three measurements on PostgreSQL, one JSON document on stdout (progress on stderr):

1. `latency`: gunicorn serves the project, a private redis-server is the broker (and the
   throttle's cache), ONE `celery worker --concurrency=1` runs the outbox relay, and an
   open-loop generator (threads, fixed send times, independent of the answers) posts
   residents' reports to /api/v1/public/grievances/ at a fixed rate. A routing rule with
   auto-dispatch covers the grid the reports fall into, so the relay accepts and whistles
   each case. After the run, dispatched_at - created_at of every submitted case comes from
   the database (waiting until all are dispatched or `--drain-timeout`). Run once per rate
   (`--rates`: the 200/s target, then 20/s and 5/s, which one worker here keeps up with,
   so that the debounce shows) and relay debounce window (OUTBOX_KICK_WINDOW, `--windows`).
2. `sweep`: one `dispatch.sla.sweep()` call in-process on 1,000,000 open (dispatched or in
   progress) cases with lead assignments, about 0.5% of them overdue and not yet
   supervised, then further calls until the backlog is drained, then one call with nothing
   new to do; with EXPLAIN ANALYZE of the three candidate queries (partial indexes used?).
3. `console`: the console's first page (dispatch.selectors: console_cases + queue_order,
   first 25), its summary counts and the whole /console/ page, for the centre staff of one
   township, plus the per-level ancestor column formulation for comparison.

    .venv/bin/python bench/dispatch.py                   # seeds once (a few minutes)
    .venv/bin/python bench/dispatch.py --reuse           # reuses the seeded template
    .venv/bin/python bench/dispatch.py --reuse --phases sweep,console
    .venv/bin/python bench/dispatch.py --reuse --phases latency --windows 0.1 --rates 100

The 1,000,000 rows are written with SQL (INSERT ... SELECT generate_series) into a template
database `<name>_seed`; every run works on a fresh copy `<name>` (CREATE DATABASE ...
TEMPLATE, a file copy), so a run's supervisions and escalations never leak into the next.
Deadlines are seeded around a reference instant stored in the seed (table bench_meta), and
the sweep and the console counts are evaluated at that instant, so a reused seed gives the
same work whatever the wall clock says.

Needs PostgreSQL at $BENCH_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/fengqiao_bench_dispatch, superuser: the seed turns
foreign-key triggers off while it loads), Debian's redis-server, and gunicorn and celery
in the venv. Targets: p95 <= 500 ms at 200 submissions/s with one worker; a sweep <= 1 s;
the console's first page fast at 1,000,000 cases.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/fengqiao_bench_dispatch"
SECRET = "bench-only-secret-key-not-for-production-use-0123456789"
MARKER = "bench-dispatch"  # the title of every case the latency phase submits

# Where the latency phase submits, and whose console the console phase opens.
GRID_NAME = "黑达村第一网格"  # 乡城县 青德镇 黑达村
COUNTY_CODE = "513336000000"  # 乡城县
CATEGORY = "hazard.utilities"
LEAD_DEPARTMENT = "513336-housing"
CONSOLE_USER = "zerenzhuoma"  # 泽仁卓玛, centre staff of 青德镇
BENCH_MEMBER = "bench_housing_duty"  # a duty officer of the lead department (email + SMS)

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"


def log(message: str) -> None:
    print(f"[dispatch] {message}", file=sys.stderr, flush=True)


# --- Processes ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        return True
    except OSError:
        return False


class Processes:
    """Every server the bench starts, stopped (by pid) on the way out, whatever happens."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[subprocess.Popen] = []
        self.logs: list = []

    def start(self, name: str, cmd: list[str], env: dict | None = None) -> subprocess.Popen:
        log_file = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop_all
        self.logs.append(log_file)
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the prefork child goes too
        )
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, timeout: float = 20) -> None:
        if proc.poll() is None:
            # The parent only: a Celery worker's warm shutdown stops its pool child itself.
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        # Anything left in its process group (a pool child) goes too.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs)):
            self.stop(proc)
        for f in self.logs:
            f.close()

    def tail(self, name: str, chars: int = 3000) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""


# --- Databases ---------------------------------------------------------------------------------


def parse_db(url: str) -> dict:
    parts = urlsplit(url)
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": parts.username or "postgres",
        "password": parts.password or "",
        "dbname": parts.path.lstrip("/"),
    }


def with_name(url: str, name: str) -> str:
    base, _old = url.rsplit("/", 1)
    return f"{base}/{name}"


@contextmanager
def connect(url: str, autocommit: bool = True):
    conn = psycopg2.connect(**parse_db(url))
    conn.autocommit = autocommit
    try:
        yield conn
    finally:
        conn.close()


def admin_url(url: str) -> str:
    return with_name(url, "postgres")


def database_exists(url: str, name: str) -> bool:
    with connect(admin_url(url)) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        return cur.fetchone() is not None


def drop_database(url: str, name: str) -> None:
    with connect(admin_url(url)) as conn, conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def django_env(db_url: str, **extra) -> dict:
    env = dict(
        os.environ,
        DATABASE_URL=db_url,
        DJANGO_SETTINGS_MODULE="config.settings",
        THROTTLE_PUBLIC_CREATE="100000000/second",
        DJANGO_SECRET_KEY=SECRET,
        # Served as in production: DEBUG off (no query log), no static finders.
        DJANGO_PRODUCTION="true",
        # Plain HTTP on the loopback: no redirect to HTTPS, cookies sent without TLS.
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SECURE_COOKIES="false",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
    )
    env.pop("REDIS_URL", None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def manage(env: dict, *args: str, capture: bool = False) -> str:
    out = subprocess.run(
        [PY, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        text=True,
    )
    return out.stdout or ""


SETUP_SCRIPT = f"""
from django.contrib.auth.hashers import make_password
from dispatch.models import Department, DepartmentMembership, RoutingRule
from grids.models import Region, User
from grievances.models import Category

county = Region.objects.get(code={COUNTY_CODE!r})
category = Category.objects.get(code={CATEGORY!r})
lead = Department.objects.get(code={LEAD_DEPARTMENT!r})
rule, _ = RoutingRule.objects.update_or_create(
    category=category, region=county,
    defaults=dict(lead=lead, auto_dispatch=True, active=True, handling_level="township"),
)
# Production departments have duty staff: a dispatch notifies them (in-app, email, SMS).
user, _ = User.objects.get_or_create(
    username={BENCH_MEMBER!r},
    defaults=dict(email="duty@housing.example.org", phone="13900000000",
                  password=make_password(None)),
)
DepartmentMembership.objects.get_or_create(user=user, department=lead)
"""


def base29_sql(expr: str) -> str:
    """An 8-character code from an integer < 29**8: unique per value, tracking-code alphabet."""
    parts = [
        f"substr('{CODE_ALPHABET}', ((({expr}) / {29**k}) %% 29 + 1)::int, 1)"
        for k in range(7, -1, -1)
    ]
    return " || ".join(parts)


# The seed, as SQL. Case i (1..N) lies in grid i % G (the demo's 65 grids, uniformly);
# the case's state and deadlines follow from i, around the reference instant :ref:
#   i % 10 = 0          dispatched, the lead not reported in (report-in due in 1..240 min)
#   otherwise           in progress, the lead reported in
#   i % 200 = 1         overdue handling deadline, not supervised yet     (0.5%)
#   i % 2000 = 10       overdue report-in, not supervised yet             (0.05%)
#   i % 10000 = 5       supervised 15 days ago, automatic escalation due  (0.01%)
#   i % 200 = 2         supervised a moment ago, escalation later today   (0.5%)
#   i % 1000 = 11       suspended with its (stopped) deadline in the past (0.1%)
#   i % 5 = 0           an assisting department too (not swept: lead only)
# Everything else is due 1 hour to 20 days after :ref.
SEED_SQL = [
    "SET session_replication_role = replica",  # no FK triggers: consistent by construction
    "SET maintenance_work_mem = '256MB'",
    "SET synchronous_commit = off",
    "DROP TABLE IF EXISTS bench_grid",
    """
    CREATE TABLE bench_grid AS
    SELECT (row_number() OVER (ORDER BY g.code) - 1)::int AS n,
           g.id AS grid_id, g.parent_id AS centre_id,
           g.centroid_lng AS lng, g.centroid_lat AS lat,
           max(a.id) FILTER (WHERE a.level = 'province') AS province_id,
           max(a.id) FILTER (WHERE a.level = 'city') AS city_id,
           max(a.id) FILTER (WHERE a.level = 'county') AS county_id,
           max(a.id) FILTER (WHERE a.level = 'township') AS township_id,
           max(a.id) FILTER (WHERE a.level = 'village') AS village_id,
           NULL::bigint AS lead_id, NULL::bigint AS assist_id
    FROM grids_region g
    JOIN grids_region a ON a.tree_id = g.tree_id AND a.lft <= g.lft AND a.rght >= g.rght
    WHERE g.level = 'grid'
    GROUP BY g.id, g.code, g.parent_id, g.centroid_lng, g.centroid_lat
    """,
    """
    UPDATE bench_grid b SET
      lead_id = (SELECT d.id FROM dispatch_department d
                 WHERE d.region_id = b.county_id AND d.code LIKE '%%-housing'),
      assist_id = (SELECT d.id FROM dispatch_department d
                   WHERE d.region_id = b.county_id AND d.code LIKE '%%-police')
    """,
    "DROP TABLE IF EXISTS bench_seed",
    """
    CREATE UNLOGGED TABLE bench_seed AS
    WITH base AS (
      SELECT i::bigint AS i,
             (i %% (SELECT count(*) FROM bench_grid))::int AS n,
             %(ref)s::timestamptz AS ref,
             %(ref)s::timestamptz - make_interval(secs => (%(n)s - i) * 3.0) AS created
      FROM generate_series(1, %(n)s) AS i
    ), cats AS (
      SELECT array_agg(id ORDER BY code) AS ids, count(*)::int AS k
      FROM grievances_category WHERE mptt_level = 1
    )
    SELECT b.i, b.n, b.ref, b.created,
           cats.ids[(b.i %% cats.k) + 1] AS category_id,
           CASE WHEN b.i %% 10 = 0 THEN 'dispatched' ELSE 'in_progress' END AS state,
           CASE WHEN b.i %% 50 = 0 THEN 'urgent' ELSE 'normal' END AS urgency,
           -- report-in deadline (the case's and the assignment's copy)
           CASE
             WHEN b.i %% 2000 = 10 THEN b.ref - make_interval(mins => (1 + b.i %% 60)::int)
             WHEN b.i %% 10 = 0 THEN b.ref + make_interval(mins => (1 + b.i %% 240)::int)
             ELSE b.created + interval '4 hours'
           END AS report_in_due,
           CASE
             WHEN b.i %% 10000 = 5 THEN b.ref - interval '15 days'
             WHEN b.i %% 200 = 1 THEN b.ref - make_interval(mins => (1 + b.i %% 120)::int)
             WHEN b.i %% 200 = 2 THEN b.ref - make_interval(mins => (1 + b.i %% 180)::int)
             WHEN b.i %% 1000 = 11 THEN b.ref - make_interval(days => (1 + b.i %% 5)::int)
             ELSE b.ref + interval '1 hour'
                  + make_interval(mins => ((b.i * 7919) %% (20 * 24 * 60))::int)
           END AS handle_due,
           CASE WHEN b.i %% 1000 = 11 THEN b.ref - interval '10 days' END AS suspended,
           (b.i %% 10000 = 5 OR b.i %% 200 = 2) AS handle_supervised,
           CASE
             WHEN b.i %% 10000 = 5 THEN b.ref - interval '10 minutes'
             WHEN b.i %% 200 = 2 THEN b.ref + make_interval(mins => (60 + b.i %% 420)::int)
           END AS escalate_at
    FROM base b, cats
    """,
    f"""
    INSERT INTO grievances_grievance (
      id, tracking_code, title, description, urgency, lng, lat, address, source, state,
      handling_level, complexity, risk_petition, risk_extreme, risk_group, priority,
      report_in_due_at, handle_due_at, suspended_at, suspend_reason, extension_requested_days,
      extension_reason, urge_count, supervise_count, return_count, redo_count,
      escalation_count, result, reject_reason_code, reject_reason, created_at, updated_at,
      accepted_at, dispatched_at, reported_in_at, handled_at, closed_at, category_id,
      city_id, county_id, duplicate_of_id, grid_id, handler_region_id, owning_centre_id,
      province_id, region_id, reporter_id, township_id, village_id, version)
    SELECT %(off)s + s.i, {base29_sql("s.i")},
           (ARRAY['楼道水管漏水', '拖欠工资', '路灯不亮', '邻里噪音纠纷', '垃圾未清运'])
             [(s.i %% 5) + 1],
           '种子案件（基准测试）', s.urgency, g.lng, g.lat, '',
           (ARRAY['grid_worker', 'resident_web', 'hotline', 'walk_in', 'api'])[(s.i %% 5) + 1],
           s.state, 'village', 'simple', false, false, false,
           CASE WHEN s.urgency = 'urgent' THEN 20 ELSE 10 END,
           s.report_in_due, s.handle_due, s.suspended,
           CASE WHEN s.suspended IS NULL THEN '' ELSE '等待鉴定' END, NULL, '',
           0, CASE WHEN s.handle_supervised THEN 1 ELSE 0 END, 0, 0, 0, '', '', '',
           s.created, s.ref, s.created + interval '5 minutes', s.created + interval '10 minutes',
           CASE WHEN s.state = 'in_progress' THEN s.created + interval '40 minutes' END,
           NULL, NULL, s.category_id,
           g.city_id, g.county_id, NULL, g.grid_id, NULL, g.centre_id,
           g.province_id, g.grid_id, NULL, g.township_id, g.village_id, 1
    FROM bench_seed s JOIN bench_grid g ON g.n = s.n
    """,
    """
    INSERT INTO dispatch_whistle (id, instructions, status, created_at, ended_at, centre_id,
                                  grievance_id, issued_by_id)
    SELECT %(off)s + s.i, '', 'open', s.created + interval '10 minutes', NULL, g.centre_id,
           %(off)s + s.i, NULL
    FROM bench_seed s JOIN bench_grid g ON g.n = s.n
    """,
    """
    INSERT INTO dispatch_assignment (id, role, status, report_in_due_at, handle_due_at,
      reported_in_at, finished_at, reason, department_id, whistle_id, escalate_at,
      escalated_at, handle_supervised_for, report_in_supervised_for)
    SELECT %(off)s + s.i, 'lead',
           CASE WHEN s.state = 'dispatched' THEN 'pending' ELSE 'reported_in' END,
           s.report_in_due, s.handle_due,
           CASE WHEN s.state = 'in_progress' THEN s.created + interval '40 minutes' END,
           NULL, '', g.lead_id, %(off)s + s.i, s.escalate_at, NULL,
           CASE WHEN s.handle_supervised THEN s.handle_due END, NULL
    FROM bench_seed s JOIN bench_grid g ON g.n = s.n
    """,
    """
    INSERT INTO dispatch_assignment (id, role, status, report_in_due_at, handle_due_at,
      reported_in_at, finished_at, reason, department_id, whistle_id, escalate_at,
      escalated_at, handle_supervised_for, report_in_supervised_for)
    SELECT %(off)s + %(n)s + s.i, 'assisting', 'reported_in', s.report_in_due, s.handle_due,
           s.created + interval '50 minutes', NULL, '', g.assist_id, %(off)s + s.i,
           NULL, NULL, NULL, NULL
    FROM bench_seed s JOIN bench_grid g ON g.n = s.n
    WHERE s.i %% 5 = 0
    """,
    # Every case's timeline starts with its submit event, long handed over: the events
    # table is as large as it is in production, and so are the planner's statistics of it.
    """
    INSERT INTO grievances_caseevent (grievance_id, action, actor_id, actor_label,
      from_state, to_state, note, public, data, created_at, processed_at)
    SELECT %(off)s + s.i, 'submit', NULL, '', '', 'submitted', '', true, '{}'::jsonb,
           s.created, s.created
    FROM bench_seed s
    """,
    "DROP TABLE bench_seed",
    "DROP TABLE bench_grid",
    """
    SELECT setval(pg_get_serial_sequence('grievances_grievance', 'id'),
                  (SELECT max(id) FROM grievances_grievance))
    """,
    """
    SELECT setval(pg_get_serial_sequence('dispatch_whistle', 'id'),
                  (SELECT max(id) FROM dispatch_whistle))
    """,
    """
    SELECT setval(pg_get_serial_sequence('dispatch_assignment', 'id'),
                  (SELECT max(id) FROM dispatch_assignment))
    """,
    "CREATE TABLE bench_meta (key text PRIMARY KEY, value text NOT NULL)",
    "INSERT INTO bench_meta VALUES ('ref', %(ref)s), ('cases', %(n)s::text)",
]


def seed_meta(url: str) -> dict | None:
    try:
        with connect(url) as conn, conn.cursor() as cur:
            cur.execute("SELECT key, value FROM bench_meta")
            return dict(cur.fetchall())
    except psycopg2.Error:
        return None


def build_seed(seed_url: str, cases: int) -> dict:
    """Create the template database: migrate, demo, routing rule, the cases (SQL)."""
    name = parse_db(seed_url)["dbname"]
    drop_database(seed_url, name)
    with connect(admin_url(seed_url)) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    env = django_env(seed_url)
    started = time.monotonic()
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "load_demo", "--force")
    manage(env, "shell", "-c", SETUP_SCRIPT)
    log(f"seed: schema and demo in {time.monotonic() - started:.1f} s; {cases:,} cases by SQL")
    timings = {}
    with connect(seed_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT date_trunc('second', now())")
        ref = cur.fetchone()[0].isoformat()
        # The demo writes cases, whistles and assignments of its own: the seed's ids start
        # above every one of them.
        cur.execute(
            "SELECT greatest((SELECT max(id) FROM grievances_grievance),"
            " (SELECT max(id) FROM dispatch_whistle), (SELECT max(id) FROM dispatch_assignment))"
        )
        off = cur.fetchone()[0] or 0
        t0 = time.monotonic()
        for statement in SEED_SQL:
            t = time.monotonic()
            cur.execute(statement, {"ref": ref, "n": cases, "off": off})
            first = statement.strip().split("\n")[0][:60]
            timings[first] = round(time.monotonic() - t, 1)
        load_s = time.monotonic() - t0
        log(f"seed: rows written in {load_s:.0f} s; VACUUM ANALYZE")
        t = time.monotonic()
        cur.execute("VACUUM (ANALYZE)")
        vacuum_s = time.monotonic() - t
        cur.execute(
            "SELECT pg_size_pretty(pg_database_size(current_database())),"
            " (SELECT count(*) FROM grievances_grievance),"
            " (SELECT count(*) FROM dispatch_assignment)"
        )
        size, n_cases, n_assignments = cur.fetchone()
    result = {
        "built": True,
        "cases": n_cases,
        "assignments": n_assignments,
        "database_size": size,
        "insert_s": round(load_s, 1),
        "vacuum_analyze_s": round(vacuum_s, 1),
        "total_s": round(time.monotonic() - started, 1),
        "ref": ref,
    }
    log(f"seed: {result}")
    return result


def fresh_copy(url: str, seed_url: str) -> float:
    """The run database: a file copy of the seeded template."""
    name, seed = parse_db(url)["dbname"], parse_db(seed_url)["dbname"]
    drop_database(url, name)
    started = time.monotonic()
    with connect(admin_url(url)) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{seed}" STRATEGY FILE_COPY')
    # A migration added since the seed was built applies to the copy.
    manage(django_env(url), "migrate", "--noinput", "-v0")
    return time.monotonic() - started


# --- 1. Submit-to-dispatched latency -----------------------------------------------------------


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile; None when it falls on a case never dispatched (inf)."""
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(pct / 100 * len(ordered) + 0.5)) - 1))
    value = ordered[k]
    return None if value == float("inf") else round(value, 1)


def open_loop(port: int, body: bytes, rate: float, seconds: float, threads: int) -> dict:
    """Send rate*seconds POSTs at fixed instants start + k/rate, whatever the answers do.

    Each sender thread takes the next index, sleeps until its instant and sends; with
    `threads` senders a send is late only when that many requests are all still waiting
    for their answers (reported as `send_lag_ms`).
    """
    total = int(rate * seconds)
    todo: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    for k in range(total):
        todo.put(k)
    for _ in range(threads):
        todo.put(None)
    results: list[tuple[float, float, float, int] | None] = [None] * total
    headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
    start = time.monotonic() + 0.5

    def sender() -> None:
        conn: http.client.HTTPConnection | None = None
        while True:
            k = todo.get()
            if k is None:
                break
            due = start + k / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sent = time.monotonic()
            status = -1
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                conn.request("POST", "/api/v1/public/grievances/", body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
                if response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
            results[k] = (due, sent, time.monotonic(), status)
        if conn is not None:
            conn.close()

    workers = [threading.Thread(target=sender, daemon=True) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    done = [r for r in results if r is not None]
    ok = [r for r in done if 200 <= r[3] < 300]
    first_sent = min(r[1] for r in done)
    last_sent = max(r[1] for r in done)
    answers_ms = [(r[2] - r[1]) * 1000 for r in ok]
    lags_ms = [(r[1] - r[0]) * 1000 for r in done]
    return {
        "sent": len(done),
        "accepted_201": len(ok),
        "errors": len(done) - len(ok),
        "send_rate_per_s": round((len(done) - 1) / (last_sent - first_sent), 1),
        "accepted_rate_per_s": round(len(ok) / (max(r[2] for r in done) - first_sent), 1),
        "http_p50_ms": percentile(answers_ms, 50),
        "http_p95_ms": percentile(answers_ms, 95),
        "http_p99_ms": percentile(answers_ms, 99),
        "send_lag_p99_ms": percentile(lags_ms, 99),
        "send_lag_max_ms": round(max(lags_ms), 1),
    }


def submit_point(url: str) -> tuple[float, float]:
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT centroid_lng, centroid_lat FROM grids_region"
            " WHERE level = 'grid' AND name = %s",
            [GRID_NAME],
        )
        return cur.fetchone()


def case_progress(url: str, after_id: int) -> tuple[int, int]:
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*), count(dispatched_at) FROM grievances_grievance"
            " WHERE id > %s AND title = %s",
            [after_id, MARKER],
        )
        return cur.fetchone()


def group_cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) of the live processes of a process group, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / tick


TASK_DONE = re.compile(r"Task ([\w.]+)\[[^\]]+\] succeeded in ([\d.]+)s")


def worker_tasks(log_text: str, wall_s: float) -> dict:
    """What the one worker did, from its INFO log: tasks run and seconds busy per task."""
    tasks: dict[str, dict] = {}
    for name, seconds in TASK_DONE.findall(log_text):
        entry = tasks.setdefault(name.rsplit(".", 1)[-1], {"runs": 0, "busy_s": 0.0})
        entry["runs"] += 1
        entry["busy_s"] += float(seconds)
    busy = sum(t["busy_s"] for t in tasks.values())
    for entry in tasks.values():
        entry["busy_s"] = round(entry["busy_s"], 2)
    return {"tasks": tasks, "busy_share": round(busy / wall_s, 2) if wall_s else None}


def outbox_left(url: str) -> int:
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM grievances_caseevent WHERE processed_at IS NULL")
        return cur.fetchone()[0]


def latency_run(
    url: str,
    procs: Processes,
    redis_url: str,
    rate: float,
    window: float,
    args,
    body: bytes,
    tag: str,
) -> dict:
    env = django_env(url, REDIS_URL=redis_url, OUTBOX_KICK_WINDOW=window)
    worker = procs.start(
        f"worker-{tag}",
        [
            PY,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            f"--pool={args.pool}",
            "--concurrency=1",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"bench-{os.getpid()}-{tag}@%h",
        ],
        env,
    )
    port = free_port()
    gunicorn = procs.start(
        f"gunicorn-{tag}",
        [
            PY,
            "-m",
            "gunicorn",
            "config.wsgi",
            "-w",
            str(args.web_workers),
            "-b",
            f"127.0.0.1:{port}",
            "--backlog",
            "2048",
            "--log-level",
            "warning",
        ],
        env,
    )
    try:
        wait_for(
            lambda: (
                b" ready." in (procs.tmp / f"worker-{tag}.log").read_bytes()
                or worker.poll() is not None
            ),
            60,
            "the Celery worker",
        )
        if worker.poll() is not None:
            raise SystemExit("worker died:\n" + procs.tail(f"worker-{tag}"))
        wait_for(lambda: listening(port) or gunicorn.poll() is not None, 60, "gunicorn")
        if gunicorn.poll() is not None:
            raise SystemExit("gunicorn died:\n" + procs.tail(f"gunicorn-{tag}"))
        # Warm every web worker (imports, the locate index, connections) and the relay path.
        with connect(url) as conn, conn.cursor() as cur:
            cur.execute("SELECT coalesce(max(id), 0) FROM grievances_grievance")
            warm_from = cur.fetchone()[0]
        open_loop(port, body, 20, 2, 8)
        wait_for(
            lambda: (
                (lambda t, d: t and t == d)(*case_progress(url, warm_from)) and not outbox_left(url)
            ),
            300,
            "the warm-up cases to be dispatched",
            0.5,
        )
        with connect(url) as conn, conn.cursor() as cur:
            cur.execute("SELECT coalesce(max(id), 0) FROM grievances_grievance")
            after_id = cur.fetchone()[0]
        log(f"latency: window {window}s, {rate}/s for {args.seconds}s")
        worker_log = procs.tmp / f"worker-{tag}.log"
        log_from = worker_log.stat().st_size
        load_started = time.monotonic()
        cpu_before = group_cpu_seconds(worker.pid), group_cpu_seconds(gunicorn.pid)
        load = open_loop(port, body, rate, args.seconds, args.threads)
        sent_done = time.monotonic()
        total, dispatched = case_progress(url, after_id)
        backlog_at_end = total - dispatched
        deadline = sent_done + args.drain_timeout
        while dispatched < total and time.monotonic() < deadline:
            time.sleep(0.5)
            total, dispatched = case_progress(url, after_id)
        drain_s = time.monotonic() - sent_done
        # The relay's own events (accept, dispatch: notifications) come after the dispatch;
        # let the worker finish them, so that the next run starts from an empty outbox.
        while outbox_left(url) and time.monotonic() < deadline:
            time.sleep(0.5)
        outbox_s = time.monotonic() - sent_done
        left = outbox_left(url)
        if left:
            log(f"latency: {left} events still in the outbox; marked processed for the next run")
            with connect(url) as conn, conn.cursor() as cur:
                cur.execute(
                    "UPDATE grievances_caseevent SET processed_at = now()"
                    " WHERE processed_at IS NULL"
                )
        cpu_worker = group_cpu_seconds(worker.pid) - cpu_before[0]
        cpu_web = group_cpu_seconds(gunicorn.pid) - cpu_before[1]
        with open(worker_log, "rb") as f:
            f.seek(log_from)
            worker_stats = worker_tasks(
                f.read().decode(errors="replace"), time.monotonic() - load_started
            )
    finally:
        procs.stop(gunicorn)
        procs.stop(worker)
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT extract(epoch FROM dispatched_at - created_at) * 1000, state,"
            " extract(epoch FROM created_at), extract(epoch FROM dispatched_at)"
            " FROM grievances_grievance WHERE id > %s AND title = %s",
            [after_id, MARKER],
        )
        rows = cur.fetchall()
    latencies = [float(r[0]) if r[0] is not None else float("inf") for r in rows]
    states: dict[str, int] = {}
    for r in rows:
        states[r[1]] = states.get(r[1], 0) + 1
    done_at = [float(r[3]) for r in rows if r[3] is not None]
    created = [float(r[2]) for r in rows]
    finite = [v for v in latencies if v != float("inf")]
    return {
        "outbox_kick_window_s": window,
        "target_rate_per_s": rate,
        "seconds": args.seconds,
        **load,
        "cases": len(rows),
        "dispatched": sum(1 for v in latencies if v != float("inf")),
        "states": states,
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
        "latency_p99_ms": percentile(latencies, 99),
        "latency_max_ms": round(max(finite), 1) if finite else None,
        "latency_mean_ms": round(statistics.fmean(finite), 1) if finite else None,
        "backlog_when_sending_stopped": backlog_at_end,
        "drain_s": round(drain_s, 1),
        # Until the outbox was empty again (every notification of these cases written).
        "outbox_drained_s": round(outbox_s, 1),
        "outbox_left": left,
        # Cases dispatched per second by the one worker, first to last dispatch.
        "dispatch_rate_per_s": (
            round(len(done_at) / (max(done_at) - min(done_at)), 1) if len(done_at) > 1 else None
        ),
        "submit_span_s": round(max(created) - min(created), 1) if created else None,
        "worker": worker_stats,
        # CPU per case of the worker (relay, deliveries) and of gunicorn (the submits): less
        # sensitive than wall time to the other processes sharing the cores.
        "worker_cpu_ms_per_case": round(cpu_worker * 1000 / len(rows), 1) if rows else None,
        "web_cpu_ms_per_submit": round(cpu_web * 1000 / len(rows), 1) if rows else None,
        "target_p95_ms": 500,
    }


def phase_latency(url: str, procs: Processes, args) -> list[dict]:
    if not shutil.which("redis-server"):
        raise SystemExit("needs redis-server (apt-get install redis-server)")
    redis_port = free_port()
    redis = procs.start(
        "redis",
        [
            shutil.which("redis-server"),
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(procs.tmp),
        ],
    )
    wait_for(lambda: listening(redis_port), 10, "redis-server")
    lng, lat = submit_point(url)
    body = json.dumps(
        {
            "title": MARKER,
            "description": "三单元二楼楼道水管漏水，地面积水",
            "category": CATEGORY,
            "lng": lng,
            "lat": lat,
            "complainants": [{"name": "王女士", "phone": "13800001234"}],
        },
        ensure_ascii=False,
    ).encode()
    results = []
    try:
        runs = [(rate, window) for rate in args.rates for window in args.windows]
        for n, (rate, window) in enumerate(runs):
            result = latency_run(
                url, procs, f"redis://127.0.0.1:{redis_port}/0", rate, window, args, body, str(n)
            )
            log(
                "latency: {target_rate_per_s}/s, window {outbox_kick_window_s}: p50 "
                "{latency_p50_ms} ms, p95 "
                "{latency_p95_ms} ms, {dispatched}/{cases} dispatched, sent at "
                "{send_rate_per_s}/s".format(**result)
            )
            results.append(result)
            with socket.create_connection(("127.0.0.1", redis_port)) as s:
                s.sendall(b"FLUSHALL\r\n")
                s.recv(16)
    finally:
        procs.stop(redis)
    return results


# --- 2 and 3: in-process, against the run database --------------------------------------------


class QueryCounter:
    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.count += 1
            self.seconds += time.perf_counter() - started


@contextmanager
def counting():
    from django.db import connection

    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        yield counter


def plan_summary(qs, indexes: list[str]) -> dict:
    """EXPLAIN (ANALYZE, BUFFERS) of a queryset: the indexes it names and the timing."""
    text = qs.explain(analyze=True, buffers=True)
    lines = text.splitlines()
    execution = next((ln for ln in lines if ln.startswith("Execution Time")), "")
    return {
        "indexes_used": [name for name in indexes if name in text],
        "execution_ms": float(execution.split(":")[1].split()[0]) if execution else None,
        "plan": lines,
    }


def setup_django(url: str, var_dir: Path) -> None:
    os.environ.update(django_env(url))
    os.environ.pop("REDIS_URL", None)
    # No Redis in-process: the relay kicks of the sweep's supervisions go to the filesystem
    # broker, in a folder of our own (never the repository's var/).
    os.environ["FENGQIAO_VAR_DIR"] = str(var_dir)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import logging

    logging.getLogger("dispatch").setLevel(logging.ERROR)
    logging.getLogger("grievances").setLevel(logging.ERROR)


def reference_time():
    from datetime import datetime

    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT value FROM bench_meta WHERE key = 'ref'")
        return datetime.fromisoformat(cur.fetchone()[0])


def sweep_candidates(now, limit: int) -> dict:
    """The three candidate querysets of dispatch.sla.sweep, built as the sweep builds them."""
    from dispatch import sla
    from dispatch.models import SLA_ESCALATE_OPEN, Assignment

    queries = {
        "escalate": sla._candidates_query(
            Assignment.objects.filter(SLA_ESCALATE_OPEN, escalate_at__lte=now),
            "escalate_at",
            limit,
        )
    }
    for threshold, (due_field, _mark, condition) in sla._THRESHOLDS.items():
        queries[threshold] = sla._candidates_query(
            Assignment.objects.filter(condition, **{f"{due_field}__lte": now}), due_field, limit
        )
    return queries


SWEEP_INDEXES = [
    "as_sla_escalate",
    "as_sla_report_in",
    "as_sla_handle",
    "as_open_report_in_due",
    "dispatch_assignment_pkey",
    "dispatch_whistle_pkey",
    "grievances_grievance_pkey",
]


def timed_sweep(now) -> dict:
    from dispatch import sla

    with counting() as counter:
        started = time.perf_counter()
        result = sla.sweep(now=now)
        seconds = time.perf_counter() - started
    handled = result.supervised + result.escalated + result.updated
    return {
        "seconds": round(seconds, 3),
        "supervised": result.supervised,
        "escalated": result.escalated,
        "updated": result.updated,
        "busy": result.busy,
        "full": result.full,
        "queries": counter.count,
        "db_seconds": round(counter.seconds, 3),
        "ms_per_row": round(seconds * 1000 / handled, 2) if handled else None,
    }


def phase_sweep(args) -> dict:
    from dispatch import sla
    from dispatch.models import Assignment
    from grievances.models import CaseEvent, Grievance

    now = reference_time()
    limit = sla.batch_size()
    with connection_cursor() as cur:
        cur.execute(
            "SELECT count(*) FILTER (WHERE state IN ('dispatched', 'in_progress')),"
            " count(*) FILTER (WHERE suspended_at IS NULL AND state IN ('dispatched',"
            " 'in_progress') AND (handle_due_at <= %s OR (state = 'dispatched'"
            " AND report_in_due_at <= %s)))"
            " FROM grievances_grievance",
            [now, now],
        )
        open_cases, overdue = cur.fetchone()
    out: dict = {
        "open_cases": open_cases,
        "overdue_running": overdue,
        "lead_assignments": Assignment.objects.filter(role="lead").count(),
        "batch": limit,
        "evaluated_at": now.isoformat(),
    }
    candidates = sweep_candidates(now, limit)
    out["explain_before"] = {
        name: plan_summary(qs, SWEEP_INDEXES) for name, qs in candidates.items()
    }
    times = {}
    for name, qs in candidates.items():
        started = time.perf_counter()
        n = len(list(qs))
        times[name] = {"rows": n, "ms": round((time.perf_counter() - started) * 1000, 2)}
    out["candidate_queries_before"] = times
    events_before = CaseEvent.objects.count()
    log("sweep: first call")
    out["first_call"] = timed_sweep(now)
    log(f"sweep: first call {out['first_call']}")
    calls = []
    while calls[-1]["full"] if calls else out["first_call"]["full"]:
        calls.append(timed_sweep(now))
        if len(calls) >= args.max_sweeps or not (
            calls[-1]["supervised"] + calls[-1]["escalated"] + calls[-1]["updated"]
        ):
            break
    out["drain"] = {
        "calls": len(calls),
        "seconds": round(sum(c["seconds"] for c in calls), 2),
        "supervised": sum(c["supervised"] for c in calls),
        "escalated": sum(c["escalated"] for c in calls),
        "updated": sum(c["updated"] for c in calls),
        "busy": sum(c["busy"] for c in calls),
    }
    log(f"sweep: drained in {out['drain']}")
    out["idle_call"] = timed_sweep(now)
    out["idle_call_again"] = timed_sweep(now)
    log(f"sweep: idle call {out['idle_call']}")
    out["explain_idle"] = {
        name: plan_summary(qs, SWEEP_INDEXES) for name, qs in sweep_candidates(now, limit).items()
    }
    out["events_written"] = CaseEvent.objects.count() - events_before
    out["escalated_cases_now_accepted"] = Grievance.objects.filter(
        state="accepted", escalation_count__gt=0
    ).count()
    out["target_s"] = 1.0
    return out


@contextmanager
def connection_cursor():
    from django.db import connection

    with connection.cursor() as cur:
        yield cur


def best_of(fn, repeat: int) -> tuple[float, float, object]:
    """(first run ms, median of the next `repeat` runs ms, last value)."""
    started = time.perf_counter()
    value = fn()
    first = (time.perf_counter() - started) * 1000
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        value = fn()
        runs.append((time.perf_counter() - started) * 1000)
    return round(first, 2), round(statistics.median(runs), 2), value


CONSOLE_INDEXES = [
    "gr_queue_county",
    "gr_queue_township",
    "gr_queue_village",
    "gr_queue",
    "gr_township_created",
    "gr_village_created",
    "gr_centre_state",
    "gr_state_created",
    "gr_open_handle_due",
    "gr_open_report_in_due",
    "grievances_grievance_township_id_a3263288",
    "grievances_grievance_owning_centre_id_0dfae43a",
    "grievances_grievance_created_at_417eca21",
    "grievances_grievance_priority_fedde09e",
    "grievances_grievance_pkey",
    "grievances_grievance_reporter_id_9f01c906",
]


def phase_console(args) -> dict:
    from django.conf import settings
    from django.db import DatabaseError
    from django.test import Client, override_settings

    from grids.models import User
    from grievances.models import Grievance, State
    from grievances.scoping import cases_for

    now = reference_time()
    user = User.objects.get(username=CONSOLE_USER)
    membership = user.memberships.select_related("region").get(role="centre_staff")
    township = membership.region
    repeat = args.repeat
    out: dict = {
        "user": CONSOLE_USER,
        "township": f"{township.name} ({township.code})",
        "township_cases": Grievance.objects.filter(township_id=township.pk).count(),
        "all_cases": Grievance.objects.count(),
    }
    open_states = [State.DISPATCHED, State.IN_PROGRESS]

    def measure(name: str, make_qs, explain: bool = True) -> None:
        def run():
            with counting() as counter:
                rows = list(make_qs())
            return rows, counter.count

        try:
            first, median, (rows, queries) = best_of(run, repeat)
            entry = {"first_ms": first, "median_ms": median, "rows": len(rows), "queries": queries}
            if explain:
                entry["explain"] = plan_summary(make_qs(), CONSOLE_INDEXES)
        except DatabaseError as exc:  # e.g. a model of another app without its migration yet
            out[name] = {"error": str(exc).splitlines()[0]}
            log(f"console: {name}: {out[name]['error']}")
            return
        out[name] = entry
        log(f"console: {name}: first {first} ms, median {median} ms, {len(rows)} rows")

    try:
        from dispatch import selectors
    except ImportError:  # the console's selectors are not there yet
        selectors = None
    if selectors is not None and hasattr(selectors, "console_cases"):
        related = ("category", "region", "owning_centre", "handler_region")

        def console_page():
            fresh = User.objects.get(pk=user.pk)  # scoping caches on the user object
            qs = selectors.console_cases(fresh).select_related(*related)
            return selectors.queue_order(qs)[:26]

        measure("console_queue_first_page", console_page)

        def summary():
            fresh = User.objects.get(pk=user.pk)
            return [selectors.console_summary(selectors.console_cases(fresh), now)]

        measure("console_summary", summary, explain=False)
        if "error" not in out["console_summary"]:
            fresh = User.objects.get(pk=user.pk)
            out["console_summary"]["value"] = selectors.console_summary(
                selectors.console_cases(fresh), now
            )
            out["console_summary"]["explain_of_its_filter"] = plan_summary(
                selectors.console_cases(fresh).order_by().values("pk"), CONSOLE_INDEXES
            )

        # The whole page as the browser gets it (HTML, every query of the view).
        client = Client()
        client.force_login(user)

        def page():
            response = client.get("/console/")
            return [response.status_code]

        # DEBUG is off as in production, which wants collectstatic's manifest: plain static
        # URLs instead (a join, as cheap as the manifest's dictionary lookup).
        plain_static = override_settings(
            STORAGES={
                **settings.STORAGES,
                "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
            }
        )
        try:
            with plain_static:
                first, median, status = best_of(page, repeat)
                with counting() as counter:
                    client.get("/console/")
            out["console_page_http"] = {
                "status": status[0],
                "first_ms": first,
                "median_ms": median,
                "queries": counter.count,
            }
            log(f"console: /console/: first {first} ms, median {median} ms, status {status[0]}")
        except Exception as exc:  # noqa: BLE001 - the page is being built: report, go on
            out["console_page_http"] = {"error": repr(exc)[:300]}
    else:
        out["console_queue_first_page"] = {"error": "dispatch.selectors.console_cases missing"}

    # The per-level ancestor column: the township's open cases by handling deadline.
    def by_ancestor():
        fresh = User.objects.get(pk=user.pk)
        return (
            cases_for(fresh)
            .filter(township_id=township.pk, state__in=open_states)
            .order_by("handle_due_at", "id")[:25]
        )

    measure("scoped_township_open_by_deadline", by_ancestor)

    def by_ancestor_unscoped():
        return Grievance.objects.filter(township_id=township.pk, state__in=open_states).order_by(
            "handle_due_at", "id"
        )[:25]

    measure("township_open_by_deadline_without_scoping", by_ancestor_unscoped)
    return out


# --- Main --------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phases", default="latency,sweep,console")
    ap.add_argument("--reuse", action="store_true", help="reuse the seeded template database")
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument(
        "--rates",
        default="200,20,5",
        help="submissions per second: the target, and one the one worker keeps up with",
    )
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--threads", type=int, default=64, help="sender threads")
    ap.add_argument("--windows", default="0.05,0.1,0.2", help="OUTBOX_KICK_WINDOW values")
    ap.add_argument("--web-workers", type=int, default=3, help="gunicorn sync workers")
    ap.add_argument("--pool", default="prefork", choices=["prefork", "solo"])
    ap.add_argument("--drain-timeout", type=float, default=420.0)
    ap.add_argument("--max-sweeps", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=5, help="timed repeats of console queries")
    ap.add_argument("--keep-logs", action="store_true", help="keep the servers' logs")
    args = ap.parse_args()
    args.windows = [float(w) for w in args.windows.split(",") if w]
    args.rates = [float(r) for r in args.rates.split(",") if r]
    phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    unknown = phases - {"latency", "sweep", "console"}
    if unknown:
        raise SystemExit(f"unknown phases: {', '.join(sorted(unknown))}")

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    seed_url = with_name(url, parse_db(url)["dbname"] + "_seed")
    result: dict = {"database": url, "cpus": os.cpu_count()}
    meta = seed_meta(seed_url) if args.reuse else None
    if meta and int(meta.get("cases", -1)) == args.cases:
        result["seed"] = {"built": False, "reused": parse_db(seed_url)["dbname"], **meta}
        log(f"seed: reusing {parse_db(seed_url)['dbname']} ({meta})")
    else:
        result["seed"] = build_seed(seed_url, args.cases)
    result["copy_s"] = round(fresh_copy(url, seed_url), 1)
    log(f"run database copied from the seed in {result['copy_s']} s")
    result["load_average_before"] = [round(x, 2) for x in os.getloadavg()]

    tmp = Path(tempfile.mkdtemp(prefix="bench-dispatch-"))
    procs = Processes(tmp)
    try:
        if "latency" in phases:
            result["latency"] = phase_latency(url, procs, args)
        if phases & {"sweep", "console"}:
            setup_django(url, tmp / "var")
            if "sweep" in phases:
                result["sweep"] = phase_sweep(args)
            if "console" in phases:
                result["console"] = phase_console(args)
    finally:
        procs.stop_all()
        if args.keep_logs:
            log(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
