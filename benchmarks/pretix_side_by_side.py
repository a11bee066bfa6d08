"""calendrier and pretix side by side: same gunicorn, same wrk, same machine, one run.

    .venv/bin/python benchmarks/pretix_side_by_side.py [--pretix-venv /work/pretix-venv]
        [--seconds 10] [--flow-seconds 90] [--rounds 1]

Both apps are served the same way, ``gunicorn --workers 4`` (sync workers), on PostgreSQL,
with the same data: calendrier from ``seed_bench.py`` (250 events, 10,000 dates over the
coming year, a single date ``ouverture``), pretix from ``pretix_seed.py`` (250 event series
sharing 10,000 dates, a single-date event ``ouverture`` with a free product). Each figure
is measured with ``wrk`` (2 threads, 32 connections) on one app while the other is idle,
calendrier then pretix, scenario after scenario:

- ``healthz``: calendrier's ``/healthz`` (one ``SELECT 1``), pretix's ``/healthcheck/``
  (a query, a Redis write and read, a cache write and read): each one's cheapest page;
- ``event-page``: an event with about 40 dates (pretix: a series' page);
- ``booking-page``: the page of the single date people book;
- ``event-ics``: that single date's ``.ics``;
- ``all-events``: the all-dates feed; pretix's organizer calendar stops at 1,000 dates, so
  calendrier's is asked ``?to=`` the day that holds as many (``all-events-full``: all
  10,000 of calendrier's, against the same 1,000 of pretix's; ``all-events-poll``: a
  subscribed calendar asking again with its copy's ``If-None-Match``, a 304 in calendrier,
  the feed again in pretix, which gives no validators); each page is asked once before
  wrk starts, as a page asked often would be (pretix keeps its organizer feed 5 minutes in
  its cache, calendrier a feed's validators 5 s);
- ``page+booking``: 32 people at once, each going from the event page to a confirmed
  booking as a browser does, cookies, CSRF tokens and redirects included: calendrier's
  page, its form sent, the confirmation page (3 requests); pretix's page, add to cart, the
  cart, the checkout's questions (email and name), their answers, the confirmation page,
  the order placed, the order's page (9 requests). Its rate is bookings completed per
  second; wrk runs one connection per thread here (32 threads), so that each thread is one
  person going through the steps in order.

Both run in production mode: calendrier with CSRF on, pretix without celery (its tasks run
in the request) and with Redis as its cache and session store, as its docs recommend; mail
is not sent by either during the measurement (calendrier queues it in its outbox, pretix
renders it and hands it to Django's dummy backend). Rate limits are off in calendrier (every
client comes from one address); pretix has none on these pages.

pretix is installed apart, in its own virtualenv (see benchmarks/README.md). Its schema is
migrated once into a template database (``pretix_bench_template_<version>``, about five
minutes) and every run copies it. Exits non-zero when a page answers an error or a booking
flow fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from common import DEFAULT_DB, fresh_database  # noqa: E402
from sqlalchemy import create_engine, make_url, text  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402
from wrk_suite import GET_SCRIPT, seed, serve, write_script, wrk  # noqa: E402

from tests.servers import free_port, get  # noqa: E402

PRETIX_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/pretix_bench"
PRETIX_REDIS = "redis://127.0.0.1:6379/11"
PARIS = ZoneInfo("Europe/Paris")
FAR_FUTURE = "Fri, 01 Jan 2100 00:00:00 GMT"

# --- one person's way from the event page to a booking, for wrk ------------------------------
# One connection per wrk thread: request() and response() then alternate for one person,
# whose cookies, tokens and next step are the thread's globals.

FLOW_SCRIPT = """
threads = {}
local next_id = 0
function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  app, base, target, run = args[1], args[2], args[3], args[4]
  flows, fails, people, step, done_steps = 0, 0, 0, 1, 0
  jar, statuses, failed = {}, {}, {}
  steps = app == "pretix" and pretix_steps() or calendrier_steps()
  per_flow = #steps
end

local function cookies()
  local parts = {}
  for name, value in pairs(jar) do parts[#parts + 1] = name .. "=" .. value end
  return table.concat(parts, "; ")
end

local function remember(headers)
  -- wrk keeps one header of each name: the last Set-Cookie (the others keep their value)
  local line = headers["Set-Cookie"] or headers["set-cookie"]
  if line then
    local name, value = line:match("^%s*([^=]+)=([^;]*)")
    if name then jar[name] = value end
  end
end

local function headers_for(form)
  local h = {}
  local c = cookies()
  if c ~= "" then h["Cookie"] = c end
  if form then h["Content-Type"] = "application/x-www-form-urlencoded" end
  return h
end

local function GET(path) return wrk.format("GET", path, headers_for(false)) end
local function POST(path, body) return wrk.format("POST", path, headers_for(true), body) end

local function esc(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function hidden(body, name)
  for tag in body:gmatch("<input[^>]*>") do
    if tag:find('name="' .. name .. '"', 1, true) then
      local v = tag:match('value="([^"]*)"')
      if v then return v end
    end
  end
  return nil
end

local function follow(headers)
  local l = headers["Location"] or headers["location"]
  if not l then return false end
  loc = l:gsub("^https?://[^/]+", "")
  return true
end

local function me() return string.format("%s-%d-%d", run, tid, people) end

function calendrier_steps()
  return {
    {function() return GET(base) end, 200, function(h, b)
      token, submission = hidden(b, "csrf_token"), hidden(b, "submission")
      return token ~= nil and submission ~= nil
    end},
    {function()
      return POST(base, "csrf_token=" .. esc(token) .. "&submission=" .. esc(submission)
        .. "&occurrence=" .. target .. "&name=Personne+" .. me() .. "&email=p" .. me()
        .. "%40example.org&seats=1&consent=y")
    end, 302, follow},
    {function() return GET(loc) end, 200, nil},
  }
end

function pretix_steps()
  local function csrf(h, b)
    token, form = hidden(b, "csrfmiddlewaretoken"), loc
    return token ~= nil
  end
  return {
    {function() return GET(base) end, 200, csrf},
    {function()
      return POST(base .. "cart/add", "csrfmiddlewaretoken=" .. esc(token)
        .. "&subevent=&item_" .. target .. "=1")
    end, 302, follow},
    {function() return GET(loc) end, 200, nil},
    {function() return GET(base .. "checkout/start") end, 302, follow},
    {function() return GET(loc) end, 200, function(h, b)
      position = b:match('name="(%d+)%-attendee_name_parts_0"')
      return csrf(h, b) and position ~= nil
    end},
    {function()
      return POST(form, "csrfmiddlewaretoken=" .. esc(token) .. "&email=p" .. me()
        .. "%40example.org&" .. position .. "-attendee_name_parts_0=Personne&"
        .. position .. "-attendee_name_parts_1=" .. me())
    end, 302, follow},
    {function() return GET(loc) end, 200, csrf},
    {function() return POST(form, "csrfmiddlewaretoken=" .. esc(token)) end, 302, follow},
    {function() return GET(loc) end, 200, function(h, b)
      return b:find("Thank you", 1, true) ~= nil
    end},
  }
end

local function restart()
  step, jar, loc, token = 1, {}, nil, nil
  people = people + 1
end

function request()
  return steps[step][1]()
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  remember(headers)
  local s = steps[step]
  local ok = status == s[2]
  if ok and s[3] then ok = s[3](headers, body) end
  if not ok then
    fails = fails + 1
    local key = step .. ":" .. status
    failed[key] = (failed[key] or 0) + 1
    restart()
    return
  end
  step = step + 1
  done_steps = done_steps + 1
  if step > #steps then
    flows = flows + 1
    restart()
  end
end

local function encode(t)
  local parts = {}
  for k, v in pairs(t) do parts[#parts + 1] = string.format('"%s": %d', tostring(k), v) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

function done(summary, latency, requests)
  local all, bad, f, x, d = {}, {}, 0, 0, 0
  for _, t in ipairs(threads) do
    f = f + t:get("flows")
    d = d + t:get("done_steps")
    x = x + t:get("fails")
    for k, v in pairs(t:get("statuses")) do all[k] = (all[k] or 0) + v end
    for k, v in pairs(t:get("failed")) do bad[k] = (bad[k] or 0) + v end
  end
  io.write(string.format('RESULT {"requests": %d, "seconds": %f, "non2xx": %d, "socket": %d, '
    .. '"p50": %f, "p99": %f, "statuses": %s, "flows": %d, "fails": %d, "failed": %s, '
    .. '"steps": %d, "per_flow": %d}\\n',
    summary.requests, summary.duration / 1e6, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, encode(all), f, x,
    encode(bad), d, threads[1]:get("per_flow")))
end
"""

# --- pretix ----------------------------------------------------------------------------------


class Pretix:
    """pretix from its own virtualenv: configuration, database, gunicorn."""

    def __init__(self, venv: Path, database: str, redis: str, work: Path):
        self.venv = venv
        self.python = venv / "bin" / "python"
        if not self.python.exists():
            raise SystemExit(f"no pretix virtualenv at {venv} (see benchmarks/README.md)")
        self.database = make_url(database)
        self.redis = redis
        self.work = work
        self.port = free_port()
        self.version = self.run_python(
            "import importlib.metadata as m; print(m.version('pretix'))"
        ).strip()
        self.template = "pretix_bench_template_" + re.sub(r"\W", "_", self.version)
        self.process: subprocess.Popen | None = None

    def config(self, database: str) -> Path:
        db = self.database
        path = self.work / f"pretix-{database}.cfg"
        data = self.work / "pretix-data"
        data.mkdir(exist_ok=True)
        path.write_text(
            f"""[pretix]
instance_name=pretix bench
url=http://127.0.0.1:{self.port}
currency=EUR
datadir={data}
ecb_rates=off

[locale]
default=en
timezone=Europe/Paris

[database]
backend=postgresql
name={database}
user={db.username or ""}
password={db.password or ""}
host={db.host or "127.0.0.1"}
port={db.port or 5432}

[mail]
from=tickets@example.org

[redis]
location={self.redis}
sessions=true

[django]
secret=pretix-bench-not-a-secret-0123456789abcdef
debug=off
"""
        )
        return path

    def env(self, database: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CALENDRIER_", "VIRTUAL"))}
        env["PRETIX_CONFIG_FILE"] = str(self.config(database))
        env["DJANGO_SETTINGS_MODULE"] = "pretix_bench_settings"
        env["PYTHONPATH"] = str(HERE)
        env["PYTHONWARNINGS"] = "ignore"  # pytz deprecation warnings on every feed
        return env

    def run_python(self, code: str, env: dict | None = None) -> str:
        return subprocess.run(
            [str(self.python), "-c", code], capture_output=True, text=True, check=True, env=env
        ).stdout

    def pretix(self, *args: str, database: str) -> None:
        log = self.work / f"pretix-{args[0]}.log"
        result = subprocess.run(
            [str(self.python), "-m", "pretix", *args],
            env=self.env(database),
            cwd=self.work,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        if result.returncode:
            raise SystemExit(f"pretix {' '.join(args)} failed:\n{log.read_text()[-3000:]}")

    def _admin(self):
        return create_engine(self.database.set(database="postgres"), isolation_level="AUTOCOMMIT")

    def prepare(self, capacity: int, series: int, dates: int) -> dict:
        """A fresh copy of the migrated template, filled by ``pretix_seed.py``."""
        admin = self._admin()
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": self.template}
            ).scalar()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{self.template}"'))
        if not exists:
            print(f"pretix {self.version}: migrating {self.template} (once)…", flush=True)
            try:
                self.pretix("migrate", database=self.template)
            except SystemExit:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE "{self.template}"'))
                raise
        package = self.run_python("import os, pretix; print(os.path.dirname(pretix.__file__))")
        if not (Path(package.strip()) / "static.dist" / "CACHE").exists():
            print("pretix: building its static files (once)…", flush=True)
            self.pretix("rebuild", database=self.template)
        name = self.database.database
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname IN (:a, :b) AND pid <> pg_backend_pid()"
                ),
                {"a": name, "b": self.template},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        admin.dispose()
        self.flush_redis()
        result = subprocess.run(
            [
                str(self.python),
                str(HERE / "pretix_seed.py"),
                str(capacity),
                str(series),
                str(dates),
            ],
            env=self.env(name),
            cwd=self.work,
            capture_output=True,
            text=True,
        )
        if result.returncode:
            raise SystemExit(f"pretix_seed.py failed:\n{result.stderr[-3000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    def flush_redis(self) -> None:
        """pretix caches by event id, and a fresh database gives the same ids again."""
        self.run_python(
            f"import redis; redis.Redis.from_url({self.redis!r}).flushdb()",
            env=self.env(self.database.database),
        )

    def serve(self) -> int:
        gunicorn = self.venv / "bin" / "gunicorn"
        command = [str(gunicorn), "--workers", "4", "--bind", f"127.0.0.1:{self.port}"]
        command.append("pretix.wsgi")
        log = self.work / "pretix-gunicorn.log"
        self.process = subprocess.Popen(
            command,
            cwd=self.work,
            env=self.env(self.database.database),
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        wait_ready(self.process, self.port, "/healthcheck/", log)
        return self.port

    def stop(self) -> None:
        stop(self.process)

    def orders(self) -> int:
        engine = create_engine(self.database)
        with engine.connect() as conn:
            count = conn.execute(text("SELECT count(*) FROM pretixbase_order")).scalar()
        engine.dispose()
        return int(count)


# --- calendrier ------------------------------------------------------------------------------


def serve_calendrier(url: str, log: Path) -> tuple[subprocess.Popen, int]:
    """wrk_suite's server (the README's production command, production's caches), in
    production mode: CSRF on; rate limits off, as every client comes from one address."""
    return serve(ROOT, url, log, WTF_CSRF_ENABLED=True, RATELIMIT_ENABLED=False)


def calendrier_bookings(url: str, occurrence_id: int) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(
            text("SELECT count(*) FROM booking WHERE occurrence_id = :id AND status = 'confirmed'"),
            {"id": occurrence_id},
        ).scalar()
    engine.dispose()
    return int(count)


def day_of_nth_date(url: str, n: int) -> str:
    """The day (Paris) of calendrier's n-th date from now: ``?to=`` that day holds about n."""
    engine = create_engine(url)
    with engine.connect() as conn:
        starts = conn.execute(
            text("SELECT starts_at FROM occurrence ORDER BY starts_at OFFSET :n LIMIT 1"),
            {"n": n - 1},
        ).scalar()
    engine.dispose()
    if starts.tzinfo is None:
        starts = starts.replace(tzinfo=ZoneInfo("UTC"))
    return (starts.astimezone(PARIS) - timedelta(days=1)).date().isoformat()


# --- both ------------------------------------------------------------------------------------


def wait_ready(process: subprocess.Popen, port: int, path: str, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if get(port, path, timeout=60)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    process.kill()
    raise SystemExit(f"the server did not start:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def cpu_seconds(pid: int) -> float:
    """CPU time of a gunicorn master and its workers, from /proc."""
    total, todo = 0, [pid]
    while todo:
        pid = todo.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def busy_queries(admin, databases: list[str]) -> int:
    with admin.connect() as conn:
        return conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = ANY(:names) "
                "AND state = 'active' AND pid <> pg_backend_pid()"
            ),
            {"names": databases},
        ).scalar()


def wait_idle(admin, databases: list[str], *processes, timeout: float = 600) -> float:
    """Until neither app burns CPU nor runs a query: sync workers serve to the end what wrk
    left queued when it stopped, and it would run during the next measurement."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = [cpu_seconds(p.pid) for p in processes]
        time.sleep(0.5)
        after = [cpu_seconds(p.pid) for p in processes]
        quiet = all(b - a <= 0.02 for a, b in zip(before, after, strict=True))
        if quiet and busy_queries(admin, databases) == 0:
            break
    return time.monotonic() - started


def vevents(port: int, path: str) -> int:
    status, _headers, body = get(port, path, timeout=120)
    if status != 200:
        raise SystemExit(f"{path}: {status}")
    return body.count(b"BEGIN:VEVENT")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument(
        "--pretix-venv", type=Path, default=Path(os.environ.get("PRETIX_VENV", "/work/pretix-venv"))
    )
    parser.add_argument("--pretix-database", default=PRETIX_DB)
    parser.add_argument("--pretix-redis", default=PRETIX_REDIS)
    parser.add_argument("--seconds", type=float, default=10.0, help="per page and app")
    parser.add_argument("--flow-seconds", type=float, default=90.0, help="page+booking, per app")
    parser.add_argument("--rounds", type=int, default=1, help="times each pair is measured")
    parser.add_argument("--capacity", type=int, default=100_000, help="of the booked date")
    parser.add_argument("--occurrences", type=int, default=10_000)
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed (apt-get install wrk)")
    only = set(filter(None, args.only.split(",")))

    work = Path(tempfile.mkdtemp(prefix="calendrier-pretix-"))
    get_script = write_script(GET_SCRIPT, work, "get")
    flow_script = write_script(FLOW_SCRIPT, work, "flow")

    pretix = Pretix(args.pretix_venv, args.pretix_database, args.pretix_redis, work)
    print(f"pretix {pretix.version}; seeding both…", flush=True)
    p_data = pretix.prepare(args.capacity, 250, args.occurrences)
    url = fresh_database(args.database)
    c_data = seed(ROOT, url, args.capacity, args.occurrences)
    c_process, c_port = serve_calendrier(url, work / "calendrier-gunicorn.log")
    try:
        p_port = pretix.serve()
    except BaseException:
        stop(c_process)
        raise
    try:
        c_booked_date = c_data["rush"]["ouverture"]
        org, p_event = p_data["organizer"], p_data["event"]

        to = day_of_nth_date(url, 1000)
        pages = {
            "healthz": ("/healthz", "/healthcheck/"),
            "event-page": (f"/events/{c_data['event']}", f"/{org}/{p_data['series']}/"),
            "booking-page": ("/events/ouverture", f"/{org}/{p_event}/"),
            "event-ics": ("/events/ouverture.ics", f"/{org}/{p_event}/ical"),
            "all-events": (f"/calendar.ics?to={to}", f"/{org}/events/ical/"),
            "all-events-full": ("/calendar.ics", f"/{org}/events/ical/"),
            "all-events-poll": ("/calendar.ics", f"/{org}/events/ical/"),
        }
        # a subscribed calendar polls with the validators of its copy; pretix gives none
        status, headers, _ = get(c_port, "/calendar.ics", headers={"If-Modified-Since": FAR_FUTURE})
        if "ETag" not in headers:
            raise SystemExit(f"/calendar.ics: {status} without an ETag")
        poll = [f"If-None-Match: {headers['ETag']}", f"If-Modified-Since: {FAR_FUTURE}"]
        wanted = [n for n in [*pages, "page+booking"] if not only or n in only or n == "healthz"]
        runs = iter(range(1000))
        admin = create_engine(make_url(url).set(database="postgres"), poolclass=NullPool)
        databases = [make_url(url).database, make_url(args.pretix_database).database]

        def flow(app: str, seconds: float) -> dict:
            """32 people at once, each from the event page to a booking, then the next one."""
            if app == "calendrier":
                where = c_port, "/events/ouverture", c_booked_date
            else:
                where = p_port, f"/{org}/{p_event}/", p_data["item"]
            port, base, target = where
            tag = f"r{next(runs)}"  # every person's email is new
            wait_idle(admin, databases, c_process, pretix.process)
            return wrk(port, "/", flow_script, seconds, app, base, str(target), tag, threads=32)

        def page(port: int, name: str, seconds: float) -> dict:
            path = pages[name][0 if port == c_port else 1]
            if name == "all-events-full":
                # 32 requests of seconds each at once: the first answers come late
                seconds = max(seconds, 40)
            wait_idle(admin, databases, c_process, pretix.process)
            headers = poll if name == "all-events-poll" else ()
            # one answer first, as the page had when it is asked often: pretix keeps its
            # organizer feed 5 minutes in its cache, calendrier a feed's validators 5 s
            get(port, path, headers=dict(h.split(": ", 1) for h in headers), timeout=300)
            return wrk(port, path, get_script, seconds, headers=headers)

        results: dict[str, dict[str, list[dict]]] = {
            n: {"calendrier": [], "pretix": []} for n in wanted
        }
        ok = True
        notes = {
            "all-events": f"dates: calendrier {vevents(c_port, pages['all-events'][0])},"
            f" pretix {vevents(p_port, pages['all-events'][1])}",
            "all-events-full": f"calendrier {vevents(c_port, '/calendar.ics')} dates",
            "event-ics": f"calendrier {vevents(c_port, pages['event-ics'][0])} date(s), pretix "
            f"{vevents(p_port, pages['event-ics'][1])}",
        }
        # warm-up: every worker of each app imports, connects, compiles its templates
        print("warming up…", flush=True)
        for name in wanted:
            if name in pages:
                page(c_port, name, 3)
                page(p_port, name, 3)
        if "page+booking" in wanted:
            flow("calendrier", 4)
            flow("pretix", 4)
        for _round in range(args.rounds):
            for name in wanted:
                if name == "page+booking":
                    before = calendrier_bookings(url, c_booked_date), pretix.orders()
                    c = flow("calendrier", args.flow_seconds)
                    p = flow("pretix", args.flow_seconds)
                    after = calendrier_bookings(url, c_booked_date), pretix.orders()
                    for r, made in ((c, after[0] - before[0]), (p, after[1] - before[1])):
                        # each step done counts for its share of a booking: people still
                        # on their way when wrk stops count for what they did
                        r["booked"] = made
                        r["rate"] = r["steps"] / r["per_flow"] / r["seconds"]
                        r["completed_rate"] = r["flows"] / r["seconds"]
                        ok = ok and r["fails"] == 0 and r["steps"] > 0 and r["flows"] <= made
                else:
                    c = page(c_port, name, args.seconds)
                    p = page(p_port, name, args.seconds)
                    for r in (c, p):
                        errors = sum(n for code, n in r["statuses"].items() if int(code) >= 400)
                        # a socket error is wrk's 30 s time-out: slow, not wrong (noted)
                        ok = ok and errors == 0 and r["requests"] > 0
                results[name]["calendrier"].append(c)
                results[name]["pretix"].append(p)
    finally:
        stop(c_process)
        pretix.stop()

    print()
    print(
        f"calendrier vs pretix {pretix.version}: gunicorn --workers 4 (sync) each, wrk 2 threads "
        f"x 32 connections ({args.seconds:g} s a page; page+booking 32 x 1, "
        f"{args.flow_seconds:g} s), {args.occurrences} dates, {os.cpu_count()} cores"
    )
    print(f"{'scenario':16} {'calendrier/s':>13} {'pretix/s':>10} {'ratio':>7}  notes")
    for name in wanted:
        c_runs, p_runs = results[name]["calendrier"], results[name]["pretix"]
        c_rate = sum(r["rate"] for r in c_runs) / len(c_runs)
        p_rate = sum(r["rate"] for r in p_runs) / len(p_runs)
        ratio = c_rate / p_rate if p_rate else float("inf")
        note = notes.get(name, "")
        if name == "page+booking":
            c, p = c_runs[-1], p_runs[-1]
            note = (
                f"bookings/s ({c['per_flow']} / {p['per_flow']} requests each); completed "
                f"{c['completed_rate']:.1f} / {p['completed_rate']:.1f} /s; booked in the "
                f"database {c['booked'] / c['seconds']:.1f} / {p['booked'] / p['seconds']:.1f} "
                f"/s; requests/s "
                f"{c['requests'] / c['seconds']:.0f} / {p['requests'] / p['seconds']:.0f}; "
                f"booked {c['booked']} / {p['booked']}; failed {c['fails']} {c['failed']} / "
                f"{p['fails']} {p['failed']}"
            )
        else:
            note += f"  p50 ms {c_runs[-1]['p50']:.1f} / {p_runs[-1]['p50']:.1f}"
            note += f"  {c_runs[-1]['statuses']} / {p_runs[-1]['statuses']}"
            timeouts = c_runs[-1]["socket"], p_runs[-1]["socket"]
            if any(timeouts):
                note += f"  time-outs (30 s) {timeouts[0]} / {timeouts[1]}"
        print(f"{name:16} {c_rate:13.1f} {p_rate:10.1f} {ratio:7.1f}  {note}")
    print(json.dumps({"pretix": pretix.version, "results": results}))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
