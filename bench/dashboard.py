"""Dashboard speed: figures for a whole city over a year of 1,000,000 cases on PostgreSQL.

Seeds its own database (default postgres://postgres@127.0.0.1:5432/fengqiao_bench_dash,
created when missing; $BENCH_DASH_DATABASE_URL overrides) with one city of 5 counties, 50
townships, 500 villages and 2,000 grids, 20 departments and a year of cases inserted by
generate_series: about 85% closed (60% of those rated), the rest open or withdrawn; 40%
whistled to a department (lead assignments), the others dispatched down to their grid.
Then it builds the figure cells with the real code (evaluation.figures.rebuild) and times:

- figures() for the city over the year (the target: under 300 ms), a county over the
  year, a township over a month, a department over the year, a grid over a month;
- the red/black list of a month for the city's 50 townships and 20 departments;
- an incremental refresh of one day's cases (what the beat task does every minute, here
  for a whole day's worth at once).

    .venv/bin/python bench/dashboard.py [--cases 1000000] [--repeat 20] [--reseed] [--rebuild]

Seeding and the first rebuild take a few minutes; later runs reuse the data (--reseed to
start again). Prints one JSON object; times in milliseconds (median and max of --repeat
warm runs, and the first, cold, run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/fengqiao_bench_dash"
TZ = ZoneInfo("Asia/Shanghai")
YEAR = 2025
NOW = datetime(YEAR + 1, 1, 15, 12, tzinfo=TZ)

COUNTIES, TOWNSHIPS, VILLAGES, GRIDS = 5, 10, 10, 4  # children per parent


def ensure_database(url: str) -> None:
    import psycopg2

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    conn = psycopg2.connect(
        host=parsed.hostname,
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        dbname="postgres",
    )
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if not cur.fetchone():
            cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-dashboard-not-secret")
    # DEBUG would keep the last 9,000 statements (bulk inserts included) in memory.
    os.environ.setdefault("DJANGO_DEBUG", "false")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed_regions():
    from grids.models import Region

    if Region.objects.filter(code="990100000000").exists():
        return
    city = Region(name="基准市", code="990100000000", level="city")
    city.lft = city.rght = city.tree_id = city.mptt_level = 0
    Region.objects.bulk_create([city])
    parents = [city]
    plan = [("county", COUNTIES, "县"), ("township", TOWNSHIPS, "乡"), ("village", VILLAGES, "村")]
    for level, count, suffix in plan:
        children = []
        for p in parents:
            for i in range(count):
                children.append(_child(p, level, i, suffix))
        Region.objects.bulk_create(children, batch_size=2000)
        parents = children
    grids = [_child(v, "grid", i, "网格") for v in parents for i in range(GRIDS)]
    Region.objects.bulk_create(grids, batch_size=2000)
    Region.objects.rebuild()


def _child(parent, level: str, i: int, suffix: str):
    from grids.models import Region

    code = parent.code
    if level == "county":
        code = f"{code[:4]}{i + 1:02d}{code[6:]}"
    elif level == "township":
        code = f"{code[:6]}{i + 1:03d}{code[9:]}"
    elif level == "village":
        code = f"{code[:9]}{i + 1:03d}"
    else:
        code = f"{code}{i + 1:03d}"
    region = Region(
        name=f"{parent.name[:20]}{i + 1}{suffix}",
        code=code,
        level=level,
        parent=parent,
        kind="residential" if level == "grid" else "",
    )
    region.lft = region.rght = region.tree_id = region.mptt_level = 0
    return region


def seed_departments():
    from dispatch.models import Department
    from grids.models import Region

    if Department.objects.filter(code__startswith="bench-").exists():
        return
    counties = Region.objects.filter(level="county", code__startswith="9901").order_by("code")
    Department.objects.bulk_create(
        [
            Department(name=f"{c.name}{kind}", code=f"bench-{c.code}-{i}", region=c)
            for c in counties
            for i, kind in enumerate(["交通运输局", "住建局", "人社局", "派出所"])
        ]
    )


SEED_SQL = """
DROP TABLE IF EXISTS bench_grid;
CREATE TEMP TABLE bench_grid AS
SELECT row_number() OVER (ORDER BY g.id) - 1 AS idx, g.id AS grid_id, v.id AS village_id,
       t.id AS township_id, c.id AS county_id, ci.id AS city_id
FROM grids_region g JOIN grids_region v ON v.id = g.parent_id
JOIN grids_region t ON t.id = v.parent_id JOIN grids_region c ON c.id = t.parent_id
JOIN grids_region ci ON ci.id = c.parent_id
WHERE g.level = 'grid' AND g.code LIKE '9901%%';
DROP TABLE IF EXISTS bench_cat;
CREATE TEMP TABLE bench_cat AS
SELECT row_number() OVER (ORDER BY id) - 1 AS idx, id FROM grievances_category
WHERE parent_id IS NOT NULL;
DROP TABLE IF EXISTS bench_dept;
CREATE TEMP TABLE bench_dept AS
SELECT row_number() OVER (ORDER BY id) - 1 AS idx, id FROM dispatch_department
WHERE code LIKE 'bench-%%';

INSERT INTO grievances_grievance (
  tracking_code, title, description, urgency, address, source, state, handling_level,
  complexity, risk_petition, risk_extreme, risk_group, priority, suspend_reason,
  extension_reason, urge_count, supervise_count, return_count, redo_count,
  escalation_count, result, reject_reason_code, reject_reason, created_at, updated_at,
  accepted_at, dispatched_at, reported_in_at, handled_at, closed_at, report_in_due_at,
  handle_due_at, category_id, region_id, province_id, city_id, county_id, township_id,
  village_id, grid_id, owning_centre_id, handler_region_id, version)
SELECT
  'B' || lpad(upper(to_hex(s.g)), 7, '0'), '基准案件', '基准', 'normal', '', 'grid_worker',
  s.state, 'village', 'simple', false, false, false, 10, '', '', 0, 0, 0, 0,
  CASE WHEN s.r3 < 0.03 THEN 1 ELSE 0 END, '', '', '', s.created, s.created,
  s.created + s.acc,
  s.created + s.acc + s.dis,
  CASE WHEN s.state IN ('in_progress', 'closed') THEN s.created + s.acc + s.dis + s.rep END,
  CASE WHEN s.state = 'closed' THEN s.created + s.acc + s.dis + s.han END,
  CASE WHEN s.state = 'closed' THEN s.created + s.acc + s.dis + s.han + s.clo END,
  s.created + s.acc + s.dis + interval '4 hours',
  s.created + s.acc + s.dis + interval '5 days',
  bc.id, bg.grid_id, NULL, bg.city_id, bg.county_id, bg.township_id, bg.village_id,
  bg.grid_id, bg.village_id,
  CASE WHEN s.r2 >= 0.4 THEN bg.grid_id END, 1
FROM (
  SELECT g, random() AS r2, random() AS r3,
    timestamptz '%(year)s-01-01 00:00+08' + ((g - 1)::float8 / %(n)s) * interval '365 days'
      AS created,
    CASE WHEN random() < 0.85 THEN 'closed'
         WHEN random() < 0.7 THEN 'in_progress' ELSE 'dispatched' END AS state,
    interval '1 minute' * (5 + random() * 120) AS acc,
    interval '1 minute' * (5 + random() * 240) AS dis,
    interval '1 minute' * (random() * 360) AS rep,
    interval '1 hour' * (1 + random() * 180) AS han,
    interval '1 hour' * (1 + random() * 48) AS clo
  FROM generate_series(1, %(n)s) AS g
) s JOIN bench_grid bg ON bg.idx = s.g %% (SELECT count(*) FROM bench_grid)
JOIN bench_cat bc ON bc.idx = (s.g / 7) %% (SELECT count(*) FROM bench_cat);

INSERT INTO grievances_rating (score, resolved, comment, created_at, updated_at, grievance_id)
SELECT 1 + floor(random() * 5)::int, random() < 0.9, '', closed_at + interval '3 hours',
       closed_at + interval '3 hours', id
FROM grievances_grievance WHERE state = 'closed' AND random() < 0.6;

INSERT INTO dispatch_whistle (instructions, status, created_at, centre_id, grievance_id)
SELECT '', CASE WHEN state = 'closed' THEN 'done' ELSE 'open' END, dispatched_at,
       owning_centre_id, id
FROM grievances_grievance WHERE handler_region_id IS NULL;

INSERT INTO dispatch_assignment (role, status, report_in_due_at, handle_due_at,
  reported_in_at, finished_at, reason, department_id, whistle_id)
SELECT 'lead',
  CASE WHEN g.state = 'closed' THEN 'done' WHEN g.reported_in_at IS NOT NULL
       THEN 'reported_in' ELSE 'pending' END,
  g.report_in_due_at, g.handle_due_at, g.reported_in_at, g.closed_at, '',
  d.id, w.id
FROM dispatch_whistle w JOIN grievances_grievance g ON g.id = w.grievance_id
JOIN bench_dept d ON d.idx = g.id %% (SELECT count(*) FROM bench_dept);
ANALYZE;
"""


def seed_cases(n: int) -> None:
    from django.db import connection

    from grievances.models import Grievance

    if Grievance.objects.exists():
        return
    with connection.cursor() as cur:
        cur.execute(SEED_SQL % {"n": n, "year": YEAR})


def reseed() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE grievances_figurecell, grievances_casefigure, grievances_figurestate, "
            "dispatch_assignment, dispatch_whistle, grievances_rating, grievances_returnvisit, "
            "grievances_caseevent, grievances_grievance CASCADE"
        )


def timed(fn, repeat: int) -> dict:
    start = time.perf_counter()
    fn()
    cold = (time.perf_counter() - start) * 1000
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) * 1000)
    return {
        "cold_ms": round(cold, 1),
        "median_ms": round(statistics.median(runs), 1),
        "max_ms": round(max(runs), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cells again")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DASH_DATABASE_URL", DEFAULT_URL)
    ensure_database(url)
    setup_django(url)

    from django.db import connection

    from dispatch.models import Department
    from evaluation import figures
    from evaluation.models import CaseFigure, FigureCell, FigureState
    from grids.models import Region
    from grievances.models import Grievance

    result: dict = {"database": urlparse(url).path.lstrip("/")}
    if args.reseed:
        reseed()
    start = time.perf_counter()
    seed_regions()
    seed_departments()
    seed_cases(args.cases)
    result["seed_s"] = round(time.perf_counter() - start, 1)
    result["cases"] = Grievance.objects.count()

    state = FigureState.objects.filter(pk=1).first()
    if args.rebuild or state is None or state.last_run_at is None:
        start = time.perf_counter()

        def progress(done: int, total: int) -> None:
            if done % 100_000 < figures.REBUILD_BATCH:
                print(f"rebuild: {done}/{total}", file=sys.stderr, flush=True)

        figures.rebuild(now=NOW, progress=progress)
        result["rebuild_s"] = round(time.perf_counter() - start, 1)
    with connection.cursor() as cur:
        cur.execute("ANALYZE grievances_figurecell")
    result["cells"] = FigureCell.objects.count()

    city = Region.objects.get(code="990100000000")
    county = Region.objects.filter(parent=city).order_by("code").first()
    township = Region.objects.filter(parent=county).order_by("code").first()
    grid = Region.objects.filter(level="grid", code__startswith="9901").order_by("code").first()
    department = Department.objects.filter(code__startswith="bench-").order_by("code").first()
    year = (date(YEAR, 1, 1), date(YEAR + 1, 1, 1))
    june = (date(YEAR, 6, 1), date(YEAR, 7, 1))

    city_year = figures.figures(region=city, start=year[0], end=year[1])
    result["city_year_figures"] = {
        "intake": city_year["intake"]["total"],
        "rates": {k: v["value"] for k, v in city_year["rates"].items()},
        "p90_close_hours": round((city_year["durations"]["close"]["p90_seconds"] or 0) / 3600, 1),
    }
    result["timings"] = {
        "city_year": timed(
            lambda: figures.figures(region=city, start=year[0], end=year[1]), args.repeat
        ),
        "county_year": timed(
            lambda: figures.figures(region=county, start=year[0], end=year[1]), args.repeat
        ),
        "township_month": timed(
            lambda: figures.figures(region=township, start=june[0], end=june[1]), args.repeat
        ),
        "department_year": timed(
            lambda: figures.figures(department=department, start=year[0], end=year[1]),
            args.repeat,
        ),
        "grid_month": timed(
            lambda: figures.figures(region=grid, start=june[0], end=june[1]), args.repeat
        ),
        "ranking_month": timed(
            lambda: figures.ranking(date(YEAR, 6, 1), within=city), max(args.repeat // 4, 1)
        ),
    }
    # One day's cases recomputed incrementally (the beat task handles a minute's worth).
    day_ids = list(
        Grievance.objects.filter(
            created_at__gte=datetime(YEAR, 6, 10, tzinfo=TZ),
            created_at__lt=datetime(YEAR, 6, 11, tzinfo=TZ),
        ).values_list("pk", flat=True)
    )
    start = time.perf_counter()
    figures.refresh_cases(day_ids, now=NOW)
    result["refresh_one_day"] = {
        "cases": len(day_ids),
        "s": round(time.perf_counter() - start, 2),
    }
    result["case_figures"] = CaseFigure.objects.count()
    result["target_city_year_ms"] = 300
    result["ok"] = result["timings"]["city_year"]["max_ms"] < 300
    print(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
