"""Intake speed: the full public submit against a bare one-row insert, served the same way.

Serves the project with gunicorn on PostgreSQL (and Redis for the throttle cache and the
broker), loads both endpoints from loopback with wrk, and prints submissions/s, p50 and p99
for each and their ratio. The full submit validates, locates the point, writes the case,
its complainant and its first event, and wakes the outbox relay.

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


def wrk(url: str, body: str, seconds: int, connections: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = [==[{body}]==]\n"
        )
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script.name)
    if "Requests/sec" not in out:
        raise SystemExit("wrk failed:\n" + out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "per_s": rps,
        "p50_ms": parse_latency(out, "50"),
        "p99_ms": parse_latency(out, "99"),
        "errors": int(non2xx.group(1)) if non2xx else 0,
    }


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
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
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
        # Warm both paths (imports, the locate index, connections) before measuring.
        wrk(f"{base}/bench/bare/?case={case_id}", body, 2, args.connections)
        wrk(f"{base}/api/v1/public/grievances/", body, 2, args.connections)
        bare = wrk(f"{base}/bench/bare/?case={case_id}", body, args.seconds, args.connections)
        full = wrk(f"{base}/api/v1/public/grievances/", body, args.seconds, args.connections)
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
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
