"""Intake speed: the full public submit against a bare one-row insert, served the same way.

Serves the project with gunicorn on PostgreSQL (and Redis for the throttle cache and the
broker), loads both endpoints from loopback with wrk, and prints submissions/s, p50 and p99
for each and their ratio. The full submit validates, locates the point, writes the case,
its complainant and its first event, and wakes the outbox relay.
Each also gets the CPU time per request of the web workers and of the database backends.

    .venv/bin/python bench/intake.py [--seconds 15] [--connections 16] [--workers 4]

Needs PostgreSQL at $BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/
fengqiao_bench, created when missing), Redis at $REDIS_URL (default redis://127.0.0.1:6379/3)
and Debian's wrk. Target: the full submit at >= 0.8x the ceiling.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

BODY = {
    "title": "楼道水管漏水",
    "description": "三单元二楼楼道水管漏水，地面积水",
    "category": "hazard.utilities",
    "lng": None,
    "lat": None,
    "complainants": [{"name": "王女士", "phone": "13800001234"}],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, env, **kw):
    return subprocess.run(cmd, cwd=ROOT, env=env, check=True, **kw)


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"gunicorn did not listen on {port}")


def parse_latency(text: str, pct: str) -> float:
    m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if not m:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def _proc_stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            # The command name may hold spaces: split after its closing parenthesis.
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def web_pids(master: int) -> list[int]:
    """The gunicorn master and its workers."""
    return [master] + [
        pid for pid in _pids() if (st := _proc_stat(pid)) is not None and int(st[1]) == master
    ]


def db_pids(dbname: str) -> list[int]:
    """PostgreSQL backends connected to the bench database (other databases' are not ours)."""
    found = []
    for pid in _pids():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
        except OSError:
            continue
        if cmd.startswith("postgres: ") and f" {dbname} " in cmd:
            found.append(pid)
    return found


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """CPU time (user + system) of each of these processes that still runs."""
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        st = _proc_stat(pid)
        if st is not None:
            found[pid] = (int(st[11]) + int(st[12])) / ticks  # utime + stime
    return found


def wrk(url: str, body: str, seconds: int, connections: int, cpu: dict | None = None) -> dict:
    """Load `url` for `seconds`; `cpu` maps a name to a function listing the processes whose
    CPU time per request to report (steadier than the rate on a shared machine). A process
    that started during the run counts whole; one that ended during it is lost, so the
    benchmark keeps its database connections open throughout."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = [==[{body}]==]\n"
            # Every request carries an Idempotency-Key of its own, as a client sends: a UUID
            # of this run, the wrk thread and a counter (the endpoints that ignore it too).
            f'local run = "{uuid.uuid4().hex[:8]}"\n'
            "local threads = 0\n"
            "function setup(thread) threads = threads + 1; thread:set('no', threads) end\n"
            "local sent = 0\n"
            "function request()\n"
            "  sent = sent + 1\n"
            '  wrk.headers["Idempotency-Key"] = string.format('
            '"%s-%04x-4000-8000-%012x", run, no or 0, sent)\n'
            "  return wrk.format()\n"
            "end\n"
        )
    before = {name: (pids, cpu_seconds(pids())) for name, pids in (cpu or {}).items()}
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    used = {
        name: sum(spent - start.get(pid, 0) for pid, spent in cpu_seconds(pids()).items())
        for name, (pids, start) in before.items()
    }
    os.unlink(script.name)
    if "Requests/sec" not in out:
        raise SystemExit("wrk failed:\n" + out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    result = {
        "per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": parse_latency(out, "50"),
        "p99_ms": parse_latency(out, "99"),
        "errors": int(non2xx.group(1)) if non2xx else 0,
    }
    for name, seconds_used in used.items():
        result[f"{name}_cpu_ms"] = round(1000 * seconds_used / max(requests, 1), 3)
    return result


def _cpu_ratio(ceiling: dict, full: dict) -> float | None:
    spent = full.get("web_cpu_ms", 0) + full.get("db_cpu_ms", 0)
    if not spent:
        return None
    return round((ceiling.get("web_cpu_ms", 0) + ceiling.get("db_cpu_ms", 0)) / spent, 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("needs wrk (apt-get install wrk)")

    db_url = os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/fengqiao_bench"
    )
    dbname = db_url.rsplit("/", 1)[1]
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", f"CREATE DATABASE {dbname}"],
        capture_output=True,
    )
    env = dict(
        os.environ,
        DATABASE_URL=db_url,
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/3"),
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_ROOT_URLCONF="bench.intake_urls",
        THROTTLE_PUBLIC_CREATE="100000000/second",
        DJANGO_SECRET_KEY="bench-only-secret-key-not-for-production-use-0123456789",
        # Served as in production: DEBUG off (no query log), no static finders.
        DJANGO_PRODUCTION="true",
        # Plain HTTP on the loopback: no redirect to HTTPS, cookies sent without TLS.
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SECURE_COOKIES="false",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        # Connections held through the whole run (the default closes them after 60 s), so
        # that every backend's CPU is counted and no endpoint pays for reconnecting.
        DATABASE_CONN_MAX_AGE="3600",
        PYTHONPATH=str(ROOT),
    )
    run([PY, "manage.py", "migrate", "--noinput", "-v0"], env)
    run([PY, "manage.py", "load_demo", "--force"], env, stdout=subprocess.DEVNULL)
    setup = (
        "from grids.models import Region; from grievances.models import Grievance;"
        "from grievances.services import grievance_submit; from grievances.models import Category;"
        "g=Region.objects.filter(level='grid').order_by('code').first();"
        "print(json.dumps([g.centroid_lng, g.centroid_lat,"
        " grievance_submit(user=None,title='bench',description='bench',"
        "category=Category.objects.get(code='hazard.utilities'),source='api',region=g).pk]))"
    )
    out = subprocess.run(
        [PY, "manage.py", "shell", "-c", "import json;" + setup],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lng, lat, case_id = json.loads(out.strip().splitlines()[-1])
    body = json.dumps({**BODY, "lng": lng, "lat": lat}, ensure_ascii=False)

    port = free_port()
    gunicorn = subprocess.Popen(
        [
            PY,
            "-m",
            "gunicorn",
            "config.wsgi",
            "-w",
            str(args.workers),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        wait_port(port)
        base = f"http://127.0.0.1:{port}"
        # Warm both paths (imports, the locate index, connections) before measuring: on a
        # busy machine a worker's first request can take seconds, so warm until every worker
        # holds its database connection, then once more.
        for _ in range(30):
            wrk(f"{base}/bench/bare/?case={case_id}", body, 2, args.connections)
            wrk(f"{base}/api/v1/public/grievances/", body, 2, args.connections)
            wrk(f"{base}/bench/bare-case/?case={case_id}", body, 2, args.connections)
            wrk(f"{base}/bench/bare-report/?case={case_id}", body, 2, args.connections)
            if len(db_pids(dbname)) >= args.workers:
                break
        wrk(f"{base}/bench/bare/?case={case_id}", body, 2, args.connections)
        wrk(f"{base}/api/v1/public/grievances/", body, 2, args.connections)
        # CPU per request of the web workers and of this database's backends.
        cpu = {"web": lambda: web_pids(gunicorn.pid), "db": lambda: db_pids(dbname)}
        bare = wrk(f"{base}/bench/bare/?case={case_id}", body, args.seconds, args.connections, cpu)
        full = wrk(f"{base}/api/v1/public/grievances/", body, args.seconds, args.connections, cpu)
        case_row = wrk(
            f"{base}/bench/bare-case/?case={case_id}", body, args.seconds, args.connections, cpu
        )
        rows = wrk(
            f"{base}/bench/bare-report/?case={case_id}", body, args.seconds, args.connections, cpu
        )
    finally:
        gunicorn.terminate()
        gunicorn.wait(20)
    result = {
        "workers": args.workers,
        "connections": args.connections,
        "seconds": args.seconds,
        "ceiling_bare_insert": bare,
        "full_submit": full,
        "ratio": round(full["per_s"] / bare["per_s"], 3) if bare["per_s"] else None,
        "target_ratio": 0.8,
        # CPU (web + database) per request of the ceiling over the full submit's: the rate
        # ratio a machine of its own would show, steadier than the rates on a shared one.
        "cpu_ratio": _cpu_ratio(bare, full),
        # For reference: one case row written through the ORM, the submit's widest row.
        "bare_case_row": case_row,
        "ratio_to_case_row": (
            round(full["per_s"] / case_row["per_s"], 3) if case_row["per_s"] else None
        ),
        # The floor: a report's three rows in the submit's one statement and nothing else. No
        # full submit writing these rows can beat it; its ratio to the ceiling bounds `ratio`.
        "bare_report_rows": rows,
        "floor_ratio": round(rows["per_s"] / bare["per_s"], 3) if bare["per_s"] else None,
        "floor_cpu_ratio": _cpu_ratio(bare, rows),
        "ratio_to_floor": round(full["per_s"] / rows["per_s"], 3) if rows["per_s"] else None,
        "cpu_ratio_to_floor": _cpu_ratio(rows, full),
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
