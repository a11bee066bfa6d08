"""Every figure of issue 12 in one run, with wrk as the client, each as a ratio to /healthz.

    .venv/bin/python benchmarks/wrk_suite.py [--checkout DIR] [--seconds 3] [--only NAME,...]

The app is served by the README's production command (``gunicorn --workers 4 wsgi:app``,
sync workers) from ``--checkout`` (default: this one; give another commit's tree, e.g.
``git archive fd44edc | tar -x -C /tmp/old``, to compare side by side) on a fresh
PostgreSQL database (``--database``): 10,000 dates over the coming year, half of them with
bookings, and two dates of 1,000 seats for the rushes. Scenarios:

- ``healthz``: ``GET /healthz``, the yardstick;
- ``flash-api``, ``flash-form``: 3,000 people (1 seat each) for 1,000 seats over 32
  connections, through the API and through the event page's form; bookings/s counts the
  1,000 bookings over the time from the first to the last (their ``created_at``);
- ``churn``: 1,500 people for 1,000 seats with a waiting list, one in five of those
  confirmed cancelling at once (each cancellation confirms someone waiting);
- ``events``, ``month``, ``event-page``: ``/events``, the month view and an event page;
- ``feed``, ``feed-304``, ``calendar-304``: one event's ``.ics``, the same with
  ``If-None-Match``, and the all-dates feed's ``304``;
- ``calendar``: the all-dates feed itself (about 7 MB), asked without a validator.

Exits non-zero when a rush's result is wrong (not exactly the capacity, a server error).
The machine may be busy: the ratios to /healthz measured in the same run are what counts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from common import DEFAULT_DB, fresh_database  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from tests.servers import app_env, free_port, get  # noqa: E402

CONNECTIONS = 32
# Production's caches, not the tests' zeros: feeds' validators and public pages shared for
# 5 s, through Redis as the README's production set-up has it (--no-cache: none at all).
CACHES = {
    "FEED_VALIDATORS_SECONDS": 5,
    "PAGE_CACHE_SECONDS": 5,
    "CACHE_REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3"),
}
FAR_FUTURE = "Fri, 01 Jan 2100 00:00:00 GMT"
THREADS = 2

REPORT = """
function done(summary, latency, requests)
  local out = {requests = summary.requests, seconds = summary.duration / 1e6,
               non2xx = summary.errors.status, socket = summary.errors.connect
                 + summary.errors.read + summary.errors.write + summary.errors.timeout,
               p50 = latency:percentile(50) / 1000, p99 = latency:percentile(99) / 1000,
               statuses = {}}
  for _, t in ipairs(threads or {}) do
    for _, code in ipairs({200, 201, 302, 303, 304, 409, 422, 429, 500, 502, 503}) do
      local n = t:get("s" .. code)
      if n and n > 0 then out.statuses[tostring(code)] = (out.statuses[tostring(code)] or 0) + n end
    end
  end
  local parts = {}
  for k, v in pairs(out.statuses) do parts[#parts + 1] = string.format('"%s": %d', k, v) end
  io.write(string.format('RESULT {"requests": %d, "seconds": %f, "non2xx": %d, "socket": %d, '
    .. '"p50": %f, "p99": %f, "statuses": {%s}}\\n', out.requests, out.seconds, out.non2xx,
    out.socket, out.p50, out.p99, table.concat(parts, ", ")))
end
"""

COUNT = """
threads = {}
local next_id = 0
function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end
function count(status)
  local key = "s" .. status
  _G[key] = (_G[key] or 0) + 1
end
function finish()
  -- wrk runs for its whole duration whatever a thread does: a rush on one thread reports
  -- its counts and ends the process at its quota (the caller times it)
  local parts = {}
  for _, code in ipairs({200, 201, 302, 303, 409, 422, 429, 500, 502, 503}) do
    local n = _G["s" .. code]
    if n and n > 0 then parts[#parts + 1] = string.format('"%d": %d', code, n) end
  end
  io.write(string.format('RESULT {"requests": %d, "seconds": 0, "non2xx": 0, "socket": 0, '
    .. '"p50": 0, "p99": 0, "statuses": {%s}}\\n', answered, table.concat(parts, ", ")))
  io.flush()
  os.exit(0)
end
"""

GET_SCRIPT = (
    COUNT
    + """
function response(status, headers, body) count(status) end
"""
    + REPORT
)

BOOK_SCRIPT = (
    COUNT
    + """
function init(args)
  quota, door, path, occurrence = tonumber(args[1]), args[2], args[3], args[4]
  sent, answered = 0, 0
end
function request()
  sent = sent + 1
  local n = tid * 100000 + sent
  if door == "api" then
    local body = string.format(
      '{"name": "Personne %d", "email": "p%d@example.org", "seats": 1, "consent": true}', n, n)
    return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
  end
  local body = string.format(
    "occurrence=%s&name=Personne+%d&email=p%d%%40example.org&seats=1&consent=y", occurrence, n, n)
  return wrk.format("POST", path, {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
function response(status, headers, body)
  count(status)
  answered = answered + 1
  if answered >= quota then finish() end
end
"""
    + REPORT
)

CHURN_SCRIPT = (
    COUNT
    + """
function init(args)
  quota, path = tonumber(args[1]), args[2]
  sent, booked, answered, tokens = 0, 0, 0, {}
end
function request()
  if #tokens > 0 then
    return wrk.format("DELETE", "/api/v1/bookings/" .. table.remove(tokens))
  end
  sent = sent + 1
  local n = tid * 100000 + sent
  local body = string.format(
    '{"name": "Personne %d", "email": "p%d@example.org", "seats": 1, "consent": true}', n, n)
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end
function response(status, headers, body)
  count(status)
  answered = answered + 1
  if status == 201 then
    booked = booked + 1
    if booked % 5 == 0 and body:find('"confirmed"', 1, true) then
      table.insert(tokens, body:match('"token":%s*"([^"]+)"'))
    end
    if booked >= quota then finish() end
  end
end
"""
    + REPORT
)


def write_script(body: str, directory: Path, name: str) -> Path:
    path = directory / f"{name}.lua"
    path.write_text(body)
    return path


def wrk(
    port: int, path: str, script: Path, seconds: float, *args: str, headers=(), threads=THREADS
) -> dict:
    """``wrk`` with ``script``; a rush runs on one wrk thread, which stops at its quota (a
    stopped thread among others would leave idle connections that block sync workers)."""
    command = ["wrk", "-t", str(threads), "-c", str(CONNECTIONS)]
    command += ["-d", f"{max(1, round(seconds))}s"]
    command += ["--timeout", "30s", "-s", str(script)]
    for header in headers:
        command += ["-H", header]
    command.append(f"http://127.0.0.1:{port}{path}")
    if args:
        command += ["--", *args]
    started = time.perf_counter()
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    elapsed = time.perf_counter() - started
    line = next((x for x in output.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk gave no result for {path}:\n{output}")
    result = json.loads(line[len("RESULT ") :])
    result["seconds"] = result["seconds"] or elapsed
    result["rate"] = result["requests"] / result["seconds"] if result["seconds"] else 0.0
    return result


def warm_up(port: int, paths: list[str]) -> None:
    """Each path a few times per worker: imports, connections, compiled templates."""
    for path in paths:
        for _ in range(12):
            get(port, path, timeout=120)


def serve(checkout: Path, url: str, log: Path, **config) -> tuple[subprocess.Popen, int]:
    """The README's production command, from ``checkout`` (``config``: more settings)."""
    port = free_port()
    env = app_env(
        url,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, "pool_size": 2, "max_overflow": 2},
        **{**CACHES, **config},
    )
    env.pop("FLASK_DEBUG", None)
    command = [sys.executable, "-m", "gunicorn", "--workers", "4"]
    command += ["--bind", f"127.0.0.1:{port}", "wsgi:app"]
    process = subprocess.Popen(
        command, cwd=checkout, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if get(port, "/healthz")[0] == 200:
                return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"the server did not start:\n{log.read_text()[-3000:]}")


def seed(checkout: Path, url: str, capacity: int, occurrences: int) -> dict:
    result = subprocess.run(
        [sys.executable, str(HERE / "seed_bench.py"), url, str(capacity), str(occurrences)],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("CALENDRIER_")},
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def seats(url: str, occurrence_id: int) -> dict:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT status, COALESCE(SUM(seats), 0), MIN(created_at), MAX(created_at) "
                "FROM booking WHERE occurrence_id = :id GROUP BY status"
            ),
            {"id": occurrence_id},
        ).all()
    engine.dispose()
    out = {status: int(total) for status, total, _first, _last in rows}
    confirmed = [(first, last) for status, _t, first, last in rows if status == "confirmed"]
    if confirmed:
        out["span"] = (confirmed[0][1] - confirmed[0][0]).total_seconds()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", type=Path, default=ROOT)
    parser.add_argument("--database", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--seconds", type=float, default=3.0, help="per page measured")
    parser.add_argument("--capacity", type=int, default=1000)
    parser.add_argument("--occurrences", type=int, default=10_000)
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--no-cache", action="store_true", help="every answer worked out")
    args = parser.parse_args()
    checkout = args.checkout.resolve()
    if args.no_cache:
        CACHES.update(FEED_VALIDATORS_SECONDS=0, PAGE_CACHE_SECONDS=0, CACHE_REDIS_URL="")
    only = set(filter(None, args.only.split(",")))

    def wanted(name: str) -> bool:
        return not only or name in only or name == "healthz"

    work = Path(tempfile.mkdtemp(prefix="calendrier-wrk-"))
    scripts = {
        name: write_script(body, work, name)
        for name, body in (("get", GET_SCRIPT), ("book", BOOK_SCRIPT), ("churn", CHURN_SCRIPT))
    }
    url = fresh_database(args.database)
    data = seed(checkout, url, args.capacity, args.occurrences)
    process, port = serve(checkout, url, work / "gunicorn.log")
    results: dict[str, dict] = {}
    ok = True
    try:
        s = args.seconds
        get_script = scripts["get"]
        # warm-up: every worker imports, connects and compiles its templates
        warm_up(port, ["/healthz", "/events", f"/events/{data['event']}", "/calendar.ics?to=x"])
        results["healthz"] = wrk(port, "/healthz", get_script, s)

        following = time.localtime(time.time() + 32 * 86400)
        pages = {
            "events": "/events",
            "month": f"/calendar/{following.tm_year}/{following.tm_mon}",
            "event-page": f"/events/{data['event']}",
            "feed": f"/events/{data['event']}.ics",
            "calendar": "/calendar.ics",
        }
        for name, path in pages.items():
            if wanted(name):
                results[name] = wrk(port, path, get_script, s)
        for name, path in (
            ("feed-304", f"/events/{data['event']}.ics"),
            ("calendar-304", "/calendar.ics"),
        ):
            if wanted(name):
                # a 304 carries the validators: no need to build a big feed to learn them
                status, headers, _ = get(
                    port, path, headers={"If-Modified-Since": FAR_FUTURE}, timeout=120
                )
                etag = headers.get("ETag")
                if etag is None:
                    raise SystemExit(f"{path}: {status} without an ETag")
                results[name] = wrk(port, path, get_script, s, headers=[f"If-None-Match: {etag}"])

        people = 3 * args.capacity
        for name, door, occurrence in (
            ("flash-api", "api", data["rush"]["ouverture"]),
            ("flash-form", "form", None),
        ):
            if not wanted(name):
                continue
            if door == "form":  # the same rush on a fresh date through the form
                url_form = fresh_database(args.database)
                process.terminate()
                process.wait(timeout=30)
                data = seed(checkout, url_form, args.capacity, 10)
                process, port = serve(checkout, url_form, work / "gunicorn-form.log")
                warm_up(port, ["/healthz"])
                occurrence = data["rush"]["ouverture"]
                path = "/events/ouverture"
            else:
                url_form = url
                path = f"/api/v1/occurrences/{occurrence}/bookings"
            result = wrk(
                port,
                path,
                scripts["book"],
                600,
                str(people),
                door,
                path,
                str(occurrence),
                threads=1,
            )
            counts = seats(url_form, occurrence)
            result["confirmed"] = counts.get("confirmed", 0)
            result["bookings_per_second"] = (
                result["confirmed"] / counts["span"] if counts.get("span") else 0.0
            )
            errors = sum(n for code, n in result["statuses"].items() if int(code) >= 500)
            result["server_errors"] = errors + result["socket"]
            result["exact"] = result["confirmed"] == args.capacity and errors == 0
            ok = ok and result["exact"]
            results[name] = result
        if wanted("churn"):
            occurrence = data["rush"].get("liste")
            url_churn = fresh_database(args.database)
            process.terminate()
            process.wait(timeout=30)
            data = seed(checkout, url_churn, args.capacity, 10)
            process, port = serve(checkout, url_churn, work / "gunicorn-churn.log")
            warm_up(port, ["/healthz"])
            occurrence = data["rush"]["liste"]
            path = f"/api/v1/occurrences/{occurrence}/bookings"
            people = args.capacity * 3 // 2
            result = wrk(port, path, scripts["churn"], 600, str(people), path, threads=1)
            counts = seats(url_churn, occurrence)
            result["confirmed"] = counts.get("confirmed", 0)
            result["waiting"] = counts.get("waitlisted", 0)
            result["cancelled"] = counts.get("cancelled", 0)
            errors = sum(n for code, n in result["statuses"].items() if int(code) >= 500)
            result["server_errors"] = errors + result["socket"]
            result["exact"] = (
                result["confirmed"] == args.capacity
                and result["waiting"] + result["confirmed"] + result["cancelled"]
                == result["statuses"].get("201", 0)
                and errors == 0
            )
            ok = ok and result["exact"]
            results["churn"] = result
    finally:
        process.terminate()
        process.wait(timeout=30)

    base = results["healthz"]["rate"]
    print(f"checkout {checkout}; {CONNECTIONS} connections, gunicorn --workers 4 (sync)")
    print(f"{'scenario':14} {'req/s':>9} {'÷ healthz':>10} {'p50 ms':>8} {'p99 ms':>8}  notes")
    for name, r in results.items():
        notes = ""
        ratio = r["rate"] / base
        if "bookings_per_second" in r:
            ratio = r["bookings_per_second"] / base
            notes = (
                f"bookings/s {r['bookings_per_second']:.0f} (ratio on it); confirmed "
                f"{r['confirmed']}; server errors {r['server_errors']}; {r['statuses']}"
            )
        elif name == "churn":
            notes = (
                f"confirmed {r['confirmed']}, waiting {r['waiting']}, cancelled "
                f"{r['cancelled']}; server errors {r['server_errors']}; {r['statuses']}"
            )
        elif r["non2xx"] and not name.endswith("304"):
            notes = f"non-2xx {r['non2xx']} {r['statuses']}"
        print(f"{name:14} {r['rate']:9.1f} {ratio:10.3f} {r['p50']:8.1f} {r['p99']:8.1f}  {notes}")
    print(json.dumps({"checkout": str(checkout), "results": results}))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
