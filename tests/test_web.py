"""The page and its JSON API, served by a real server over a real Redis: what they show,
the actions and their token, and hostile input (unknown names, huge bodies, bad tokens,
cross-site requests, HTML in error messages)."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from scheduler.beat import Scheduler
from scheduler.core.model import RetryPolicy, Schedule
from scheduler.store import Store
from scheduler.web import Health, HttpServer, api, pages
from scheduler.web.app import App, Context, parse_tokens
from scheduler.worker import Worker

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SECRET = "s3cret-token-of-alice"
EVIL = "<script>alert('x')</script>"


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def schedules() -> dict[str, Schedule]:
    return {
        "nightly": Schedule(name="nightly", task="worker_tasks:record", timezone="Europe/Berlin",
                            cron="30 2 * * *", source="s.yaml:3"),
        "often": Schedule(name="often", task="worker_tasks:record", timezone="UTC", every_s=60),
        "broken": Schedule(name="broken", task="worker_tasks:fail", timezone="UTC", every_s=3600,
                           args=("ValueError", EVIL), retry=RetryPolicy(max_attempts=1)),
        **{f"bulk{i:03d}": Schedule(name=f"bulk{i:03d}", task="worker_tasks:record",
                                    timezone="UTC", every_s=600 + i) for i in range(120)},
    }  # fmt: skip


class Site:
    def __init__(self, url: str, tokens: str, hosts: frozenset[str] = frozenset()) -> None:
        self.store = Store(redis.Redis.from_url(url))
        self.clock = Clock(T0)
        self.leader = Scheduler(self.store, schedules())
        if self.leader.elect(T0):  # the first site of a test leads and syncs
            self.leader.tick(T0)
        sources = {n: s.source for n, s in self.leader.schedules.items()}
        context = Context(self.store, self.clock, parse_tokens(tokens), lambda: sources, hosts)
        app = App(context, [*api.ROUTES, *pages.ROUTES], pages.error_page)
        health = Health(self.store, [], lambda: "test")
        self.server = HttpServer(("127.0.0.1", 0), health, lambda: b"", app).start()
        self.port = self.server.address[1]

    def call(self, path: str, method: str = "GET", headers: dict[str, str] | None = None,
             data: bytes | None = None) -> tuple[int, Any, dict[str, str]]:  # fmt: skip
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data,
                                         method=method, headers=headers or {})  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                status, body, got = r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as exc:
            status, body, got = exc.code, exc.read(), dict(exc.headers)
        kind = got.get("Content-Type", "")
        return (
            status,
            json.loads(body) if kind.startswith("application/json") else body.decode(),
            got,
        )

    def send(self, method: str, path: str, body: Any = None, secret: str | None = SECRET, *,
             raw: bytes | None = None, headers: dict[str, str] | None = None,
             ) -> tuple[int, Any]:  # fmt: skip
        """An action with a JSON body (or ``raw`` bytes as they are)."""
        sent = {"Content-Type": "application/json", **(headers or {})}
        if secret is not None:
            sent["Authorization"] = f"Bearer {secret}"
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        status, answer, _ = self.call(path, method, sent, data)
        return status, answer

    def act(self, path: str, secret: str | None = SECRET, **headers: str) -> tuple[int, Any]:
        if secret is not None:
            headers["Authorization"] = f"Bearer {secret}"
        status, body, _ = self.call(path, "POST", headers)
        return status, body


@pytest.fixture
def site(redis_url: str) -> Iterator[Site]:
    s = Site(redis_url, f"alice:{SECRET},bob:another-secret")
    yield s
    s.server.close()


@pytest.fixture
def readonly(redis_url: str) -> Iterator[Site]:
    s = Site(redis_url, "")
    yield s
    s.server.close()


def test_the_schedule_list_pages_filters_and_sorts_in_the_server(site: Site) -> None:
    status, page, _ = site.call("/api/schedules?limit=5")
    assert status == 200 and page["total"] == 123
    assert [s["name"] for s in page["schedules"]] == ["broken", "bulk000", "bulk001", "bulk002",
                                                      "bulk003"]  # fmt: skip
    _, page, _ = site.call("/api/schedules?q=NIGHT")
    assert page["total"] == 1
    [nightly] = page["schedules"]
    assert nightly == {
        "name": "nightly", "trigger": "cron 30 2 * * *", "in_words": "at 02:30 every day",
        "timezone": "Europe/Berlin", "enabled": True, "paused": False,
        "next_fire_at": "2026-06-02T00:30:00Z", "last_fire_at": None, "runs": 0, "missed": 0,
        "last_event": None,
    }  # fmt: skip
    # By next fire: the order of the fire times Redis holds, in pages that join up.
    states = site.store.reads.states(sorted(schedules()))
    by_next = sorted(states, key=lambda n: (states[n].next_ms, n))
    _, first, _ = site.call("/api/schedules?sort=next&limit=100")
    _, rest, _ = site.call("/api/schedules?sort=next&offset=100&limit=100")
    assert [s["name"] for s in first["schedules"] + rest["schedules"]] == by_next
    assert by_next[-1] == "nightly"  # tomorrow, the last of all
    html = site.call("/?q=bulk&offset=100")[1]
    assert "101-120 of 120" in html and "bulk119" in html and "bulk099" not in html


def test_a_schedule_page_shows_upcoming_times_history_and_where_it_was_defined(
    site: Site,
) -> None:
    status, detail, _ = site.call("/api/schedules/nightly?upcoming=2")
    assert status == 200
    assert detail["upcoming"] == ["2026-06-02T00:30:00Z", "2026-06-03T00:30:00Z"]
    assert detail["source"] == "s.yaml:3" and detail["definition"]["cron"] == "30 2 * * *"
    html = site.call("/schedules/nightly")[1]
    assert "2026-06-02T02:30:00+02:00" in html and "s.yaml:3" in html


def test_unknown_names_and_paths_are_404_with_a_hint(site: Site) -> None:
    status, body, _ = site.call("/api/schedules/nigthly")
    assert (status, body) == (404, {"error": "no schedule named 'nigthly' in Redis; did you "
                                             "mean 'nightly'?"})  # fmt: skip
    assert site.call("/api/nope")[0] == 404
    assert site.call("/schedules/%3Cb%3E")[0] == 404  # not a schedule name at all
    status, body, _ = site.call("/api/schedules?limit=abc")
    assert (status, body) == (400, {"error": "limit: expected a whole number, got 'abc'"})
    assert site.call("/api/schedules?sort=evil")[0] == 400
    assert site.call("/api/schedules/nightly", "PUT")[0] == 501  # not a method we speak
    assert site.call("/api/schedules/nightly/pause")[0] == 405  # actions are POST only


def test_actions_take_effect_and_are_recorded_with_the_tokens_name(site: Site) -> None:
    assert site.act("/api/schedules/often/pause") == (200, {"schedule": "often", "paused": True,
                                                            "changed": True})  # fmt: skip
    assert site.store.reads.states(["often"])["often"].paused
    status, body = site.act("/api/schedules/often/trigger", "another-secret")
    assert status == 202 and body["run_id"].startswith("often@trigger-")
    assert [m.run_id for m in site.store.reads.queued_runs("default")].count(body["run_id"]) == 1
    site.clock.at = T0 + timedelta(minutes=3)
    _, resumed = site.act("/api/schedules/often/resume")
    # 12:01, 12:02 and 12:03 passed while paused; the next is 12:04.
    assert (resumed["missed"], resumed["next_fire_at"]) == (3, "2026-06-01T12:04:00Z")
    events = [(e.event, e.by) for e in site.store.reads.history("often")]
    assert events[:3] == [("resumed", "alice"), ("triggered", "bob"), ("paused", "alice")]


def test_actions_without_the_right_token_or_from_another_site_change_nothing(
    site: Site, readonly: Site
) -> None:
    before = site.store.reads.states(["often"])["often"]
    assert site.act("/api/schedules/often/pause", None)[0] == 401
    assert site.act("/api/schedules/often/pause", "wrong-secret-123")[0] == 401
    assert site.act("/api/schedules/often/pause", SECRET[:-1])[0] == 401
    cross = site.act("/api/schedules/often/pause", Origin="http://evil.example")
    assert cross == (403, {"error": "cross-site requests cannot act"})
    assert site.act("/api/schedules/often/pause", **{"Sec-Fetch-Site": "cross-site"})[0] == 403
    assert site.store.reads.states(["often"])["often"] == before
    assert readonly.act("/api/schedules/often/pause") == (
        403, {"error": "read-only: no SCHED_HTTP_TOKEN is configured"})  # fmt: skip
    assert "read-only: set SCHED_HTTP_TOKEN" in readonly.call("/")[1]
    assert "data-action" not in readonly.call("/")[1]  # no action buttons


def test_a_huge_body_is_refused_without_being_read(site: Site) -> None:
    headers = {"Authorization": f"Bearer {SECRET}", "Content-Length": str(10**8)}
    status, body, _ = site.call("/api/schedules/often/pause", "POST", headers)
    assert (status, body) == (413, {"error": "the body is too large"})
    assert not site.store.reads.states(["often"])["often"].paused


def dead_letter_of_broken(site: Site) -> str:
    site.leader.tick(T0 + timedelta(hours=1))
    worker = Worker(site.store, now=Clock(T0 + timedelta(hours=1)))
    for _ in range(200):
        worker.process_once()
        worker.wait(0.01)
        if site.store.reads.dead_counts()[0]:
            break
    worker.pool.close()
    [letter] = site.store.reads.dead_letters(10)
    return letter.run.run_id


def test_html_in_an_error_message_is_shown_as_text_never_run(site: Site) -> None:
    run_id = dead_letter_of_broken(site)
    status, html, headers = site.call("/dead")
    assert status == 200
    assert EVIL not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    _, letters, _ = site.call("/api/dead")
    assert letters[0]["error"]["message"] == EVIL  # JSON carries it as it is
    assert EVIL not in site.call("/schedules/broken")[1]
    assert site.act(f"/api/dead/{run_id}/retry")[0] == 202
    assert site.store.reads.dead_counts()[0] == 0


def test_a_dead_letter_can_be_purged_once(site: Site) -> None:
    run_id = dead_letter_of_broken(site)
    quoted = urllib.parse.quote(run_id, safe="")
    assert site.act(f"/api/dead/{quoted}/purge") == (200, {"run_id": run_id, "purged": True})
    assert site.act(f"/api/dead/{quoted}/purge")[0] == 404
    assert site.store.reads.dead_counts()[0] == 0
    latest = site.store.reads.history("broken")[0]
    assert (latest.event, latest.by) == ("purged", "alice")


def test_the_openapi_document_lists_every_api_route(site: Site) -> None:
    status, spec, _ = site.call("/api/openapi.json")
    assert status == 200 and spec["openapi"].startswith("3.")
    documented = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    served = {(m, p.replace("([A-Za-z0-9_.-]{1,128})", "{name}").replace("([^/]{1,300})",
                                                                        "{run_id}"))
              for m, p, _ in api.ROUTES}  # fmt: skip
    assert documented == served


@pytest.mark.parametrize("text", ["", "alice:short", "tiny"])
def test_tokens_need_eight_characters(text: str) -> None:
    if text == "":
        assert parse_tokens(text) == {}
        return
    with pytest.raises(Exception, match="at least 8 characters"):
        parse_tokens(text)


def test_the_system_page_names_the_leader_its_replicas_queues_and_workers(site: Site) -> None:
    site.store.worker("w1").heartbeat('{"host": "h1", "queues": ["default"], "concurrency": 4}')
    assert site.act("/api/schedules/often/trigger")[0] == 202
    status, html, _ = site.call("/system")
    assert status == 200
    identity = site.leader.identity
    assert f"<code>{identity}</code> (leader, seen " in html
    assert "<td>w1</td><td>h1</td><td>default</td>" in html
    assert "<td>default</td><td>1</td>" in html


def test_behind_a_proxy_the_pages_public_name_may_act_and_other_names_may_not(
    redis_url: str,
) -> None:
    site = Site(redis_url, f"alice:{SECRET}", frozenset({"sched.example.com"}))
    try:
        proxied = {"Origin": "https://sched.example.com", "Host": "sched.example.com"}
        assert site.act("/api/schedules/often/pause", **proxied)[0] == 200
        rewritten = {"Origin": "https://sched.example.com"}  # Host: the address it proxies to
        assert site.act("/api/schedules/often/resume", **rewritten)[0] == 200
        other = {"Origin": "https://evil.example.com"}
        assert site.act("/api/schedules/often/pause", **other)[0] == 403
        assert site.call("/", headers={"Host": "evil.example.com"})[0] == 400
        assert site.call("/", headers={"Host": "localhost:8642"})[0] == 200
    finally:
        site.server.close()


# -- schedules from code over HTTP ---------------------------------------------------------


def test_a_schedule_added_over_http_is_owned_by_the_api_changed_and_removed(site: Site) -> None:
    fields = {"task": "worker_tasks:record", "cron": "0 9 * * mon", "timezone": "Europe/Berlin",
              "kwargs": {"tenant": "acme"}}  # fmt: skip
    status, added = site.send("POST", "/api/schedules", {"name": "report-acme", "fields": fields})
    assert status == 201
    assert added == site.call("/api/schedules/report-acme")[1]  # as GET shows it
    assert (added["owner"], added["source"]) == ("api", "api")
    assert added["trigger"] == "cron 0 9 * * mon" and added["timezone"] == "Europe/Berlin"
    assert added["next_fire_at"] == "2026-06-08T07:00:00Z"  # Monday 09:00 in Berlin
    assert added["definition"]["kwargs"] == {"tenant": "acme"}
    status, changed = site.send("PATCH", "/api/schedules/report-acme",
                                {"fields": {"cron": "0 10 * * mon", "kwargs": None}},
                                "another-secret")  # fmt: skip
    assert status == 200
    assert (changed["trigger"], changed["next_fire_at"]) == ("cron 0 10 * * mon",
                                                             "2026-06-08T08:00:00Z")  # fmt: skip
    assert changed["definition"]["kwargs"] == {}
    assert site.send("DELETE", "/api/schedules/report-acme") == (
        200, {"schedule": "report-acme", "removed": True})  # fmt: skip
    assert site.call("/api/schedules/report-acme")[0] == 404
    assert site.send("DELETE", "/api/schedules/report-acme") == (
        404, {"error": "no schedule named 'report-acme'"})  # fmt: skip
    events = site.store.reads.history("report-acme", 10)
    assert [(e.event, e.by) for e in events] == [
        ("removed", "alice"), ("changed", "bob"), ("added", "alice")]  # fmt: skip


def test_a_schedule_that_does_not_validate_is_422_with_the_yaml_messages(site: Site) -> None:
    fields = {"task": "nope", "cron": "0 25 * * *", "every": "5m"}
    status, body = site.send("POST", "/api/schedules", {"name": "b", "fields": fields})
    problems = [
        {"where": "schedules.b.task",
         "message": "'nope' is not a task reference; write module.path:callable"},
        {"where": "schedules.b.cron", "message": "hour field '25' is invalid; allowed: 0-23, with "
                                                 "ranges a-b, steps */n and lists a,b"},
        {"where": "schedules.b.every", "message": "give either cron or every, not both"},
    ]  # fmt: skip
    assert (status, body) == (422, {
        "error": "\n".join(f"{p['where']}: {p['message']}" for p in problems),
        "problems": problems})  # fmt: skip
    assert site.store.reads.definition("b") is None


def test_the_files_schedules_are_409_and_a_taken_name_too(site: Site) -> None:
    defined = "schedule 'nightly' is defined in s.yaml:3: change it there, the API cannot"
    new = {"task": "worker_tasks:record", "every": "1m"}
    assert site.send("POST", "/api/schedules", {"name": "nightly", "fields": new}) == (
        409, {"error": defined})  # fmt: skip
    assert site.send("PATCH", "/api/schedules/nightly", {"fields": {"every": "2h"}}) == (
        409, {"error": defined})  # fmt: skip
    assert site.send("DELETE", "/api/schedules/nightly") == (409, {"error": defined})
    assert site.send("PATCH", "/api/schedules/nope", {"fields": {}}) == (
        404, {"error": "no schedule named 'nope'"})  # fmt: skip
    assert site.send("POST", "/api/schedules", {"name": "mine", "fields": new})[0] == 201
    assert site.send("POST", "/api/schedules", {"name": "mine", "fields": new}) == (
        409, {"error": "schedule 'mine' exists; use update to change it"})  # fmt: skip
    _, nightly, _ = site.call("/api/schedules/nightly")
    assert (nightly["owner"], nightly["source"], nightly["trigger"]) == (
        "files", "s.yaml:3", "cron 30 2 * * *")  # fmt: skip
    html = site.call("/schedules/nightly")[1]
    assert "owned by the files: defined at <code>s.yaml:3</code>" in html
    assert "owned by the API" in site.call("/schedules/mine")[1]


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"{", "the body is not JSON: Expecting property name enclosed in double quotes: "
               "line 1 column 2 (char 1)"),
        (b"\xff", "the body is not JSON: 'utf-8' codec can't decode byte 0xff in position 0: "
                  "invalid start byte"),
        (b"[1]", "the body must be a JSON object, not an array"),
        (b"[" * 50_000, "the body is not JSON: maximum recursion depth exceeded while decoding a "
                        "JSON array from a unicode string"),
        (b'{"name": "x", "fields": {}, "extra": 1}',
         "unknown key 'extra' in the body; expected fields, name"),
        (b'{"name": "x", "fields": {"priority": NaN}}', "the body is not JSON: NaN is not JSON"),
        (b'{"name": 7, "fields": {}}', "name: expected a string"),
        (b'{"name": "x", "fields": [1]}', "fields: expected a JSON object"),
    ],
)  # fmt: skip
def test_a_body_that_is_not_the_documented_json_is_400(site: Site, raw: bytes, error: str) -> None:
    assert site.send("POST", "/api/schedules", raw=raw) == (400, {"error": error})
    assert site.store.reads.definition("x") is None


def test_the_new_verbs_need_the_token_and_refuse_other_sites_and_huge_bodies(
    site: Site, readonly: Site
) -> None:
    new = {"name": "x", "fields": {"task": "worker_tasks:record", "every": "1m"}}
    assert site.send("POST", "/api/schedules", new, None)[0] == 401
    assert site.send("POST", "/api/schedules", new, "wrong-secret-123")[0] == 401
    evil = {"Origin": "http://evil.example"}
    assert site.send("POST", "/api/schedules", new, headers=evil) == (
        403, {"error": "cross-site requests cannot act"})  # fmt: skip
    assert site.send("POST", "/api/enqueue", {"task": "a:b"}, None)[0] == 401
    assert site.send("DELETE", "/api/schedules/often", secret=None)[0] == 401
    assert site.send("PATCH", "/api/schedules/often", {"fields": {}},
                     headers={"Sec-Fetch-Site": "cross-site"})[0] == 403  # fmt: skip
    assert readonly.send("POST", "/api/schedules", new) == (
        403, {"error": "read-only: no SCHED_HTTP_TOKEN is configured"})  # fmt: skip
    huge = {"Content-Length": str(10**8)}
    assert site.send("POST", "/api/schedules", headers=huge) == (
        413, {"error": "the body is too large"})  # fmt: skip
    assert site.store.reads.definition("x") is None
    assert site.call("/api/enqueue")[0] == 405


def test_a_body_sent_too_slowly_is_cut_off_and_nothing_is_added(site: Site) -> None:
    body = json.dumps({"name": "slow", "fields": {"task": "worker_tasks:record", "every": 60}})
    head = (f"POST /api/schedules HTTP/1.0\r\nAuthorization: Bearer {SECRET}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")  # fmt: skip
    with socket.create_connection(("127.0.0.1", site.port), timeout=15) as conn:
        conn.sendall(head.encode() + body[:10].encode())  # and the rest never comes
        began = time.monotonic()
        assert conn.recv(64) == b""  # closed, never answered
        assert 4.5 < time.monotonic() - began < 8
    assert site.store.reads.definition("slow") is None


def test_enqueue_over_http_adds_a_one_off_api_schedule(site: Site) -> None:
    status, body = site.send("POST", "/api/enqueue", {
        "task": "worker_tasks:record", "args": [1], "kwargs": {"user": 42}, "delay": 3600,
        "name": "remind-42", "fields": {"queue": "mail"}})  # fmt: skip
    assert (status, body) == (201, {"name": "remind-42"})
    _, shown, _ = site.call("/api/schedules/remind-42")
    assert (shown["owner"], shown["next_fire_at"]) == ("api", "2026-06-01T13:00:00Z")
    assert shown["definition"]["args"] == [1] and shown["definition"]["queue"] == "mail"


def test_enqueue_refuses_a_body_it_cannot_use(site: Site) -> None:
    def enqueue(body: dict[str, Any]) -> tuple[int, Any]:
        return site.send("POST", "/api/enqueue", body)

    assert enqueue({"args": []}) == (400, {"error": "task: expected a string, "
                                                    "module.path:callable"})  # fmt: skip
    assert enqueue({"task": "a:b", "at": "tomorrow"}) == (400, {
        "error": "at: expected an ISO 8601 date-time (e.g. 2026-03-29T00:00:00Z; without an "
                 "offset it is UTC)"})  # fmt: skip
    assert enqueue({"task": "a:b", "at": "9999-01-01T00:00:00Z"}) == (400, {
        "error": "at: out of range; dates must be between 1970-01-02 and 8999-12-31"})  # fmt: skip
    assert enqueue({"task": "a:b", "delay": True})[0] == 400
    assert enqueue({"task": "a:b", "delay": -1}) == (400, {
        "error": "delay: expected seconds, a number from 0 to 1000000000"})  # fmt: skip
    assert enqueue({"task": "a:b", "delay": 1, "at": "2026-06-01T13:00:00Z"}) == (400, {
        "error": "enqueue: give at or delay, not both"})  # fmt: skip
    assert site.store.reads.names() == set(schedules())
