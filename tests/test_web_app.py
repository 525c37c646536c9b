"""The web app's rules apart from any socket: limits, hosts, origins, tokens, queries, error
shapes; and the metrics rendering's reuse."""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from scheduler.errors import SchedError
from scheduler.metrics import Metrics
from scheduler.store import Store
from scheduler.web.app import (
    BODY_MAX,
    App,
    Context,
    Request,
    Response,
    host_of,
    json_response,
    parse_tokens,
)

SECRET = "eight-ch"  # exactly 8 characters, the documented minimum


def echo(c: Context, r: Request, args: list[str]) -> Response:
    return json_response({"query": r.query, "args": args})


def act(c: Context, r: Request, args: list[str]) -> Response:
    return json_response({"by": c.who(r)})


@pytest.fixture
def app(redis_url: str) -> App:
    context = Context(
        Store(redis.Redis.from_url(redis_url)),
        lambda: datetime.now(UTC),
        parse_tokens(f"alice:{SECRET}"),
        hosts=frozenset({"sched.example"}),
    )
    return App(
        context,
        [("GET", "/api/echo", echo), ("GET", "/page", echo), ("POST", "/api/act", act)],
        lambda status, text: b"<p>page</p>",
    )


def request(method: str, target: str, **headers: str) -> Request:
    return Request.parse(method, target, {"Host": "127.0.0.1:8642", **headers})


def test_a_body_of_exactly_the_limit_is_taken_and_one_byte_more_refused(app: App) -> None:
    assert BODY_MAX == 64 * 1024  # the documented limit
    assert app.handle(request("GET", "/api/echo"), BODY_MAX).status == HTTPStatus.OK
    refused = app.handle(request("GET", "/api/echo"), BODY_MAX + 1)
    assert (refused.status, refused.body) == (
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        b'{\n "error": "the body is too large"\n}\n',
    )


@pytest.mark.parametrize(
    ("value", "host"),
    [
        ("[::1]:8642", "::1"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("Sched.Example:80", "sched.example"),
        ("sched.example", "sched.example"),
        ("[bad", "[bad"),
        ("", ""),
    ],
)
def test_the_host_header_without_its_port(value: str, host: str) -> None:
    assert host_of(value) == host


def test_a_query_keeps_the_first_of_repeated_fields_and_takes_at_most_20(app: App) -> None:
    answer = app.handle(request("GET", "/api/echo?a=1&a=2&b=3"), 0)
    assert answer.body == b'{\n "query": {\n  "a": "1",\n  "b": "3"\n },\n "args": []\n}\n'
    twenty = "&".join(f"k{i}=1" for i in range(20))
    assert app.handle(request("GET", f"/api/echo?{twenty}"), 0).status == HTTPStatus.OK
    assert app.handle(request("GET", f"/api/echo?{twenty}&k20=1"), 0).status == 400


def test_secrets_of_eight_characters_are_taken_and_of_seven_refused() -> None:
    assert parse_tokens(f"a:{SECRET}") == {SECRET: "a"}
    with pytest.raises(SchedError, match="at least 8 characters"):
        parse_tokens(f"a:{SECRET[:-1]}")


def test_an_action_without_origin_acts_and_a_smuggled_origin_does_not(app: App) -> None:
    token = {"Authorization": f"Bearer {SECRET}"}
    assert app.handle(request("POST", "/api/act", **token), 0).body == b'{\n "by": "alice"\n}\n'
    smuggled = request("POST", "/api/act", Origin="http://evil.example://127.0.0.1:8642", **token)
    assert app.handle(smuggled, 0).status == HTTPStatus.FORBIDDEN
    null = request("POST", "/api/act", Origin="null", **token)
    assert app.handle(null, 0).status == HTTPStatus.FORBIDDEN


def test_errors_are_json_for_the_api_and_actions_and_a_page_for_pages(app: App) -> None:
    page = app.handle(request("GET", "/nope"), 0)
    assert (page.status, page.kind, page.body) == (404, "text/html; charset=utf-8", b"<p>page</p>")
    posted = app.handle(request("POST", "/page"), 0)
    assert (posted.status, posted.kind) == (405, "application/json")
    assert app.handle(request("GET", "/api/nope"), 0).kind == "application/json"


def test_only_a_missing_or_wrong_token_asks_for_one(app: App) -> None:
    unauthorized = app.handle(request("POST", "/api/act"), 0)
    assert unauthorized.status == 401
    assert unauthorized.headers == {"WWW-Authenticate": 'Bearer realm="sched"'}
    cross = app.handle(
        request(
            "POST",
            "/api/act",
            **{"Sec-Fetch-Site": "cross-site", "Authorization": f"Bearer {SECRET}"},
        ),
        0,
    )
    assert cross.status == 403 and cross.headers == {}


def test_a_metrics_rendering_is_reused_for_one_second_then_made_again() -> None:
    clock = [100.0]
    metrics = Metrics(monotonic=lambda: clock[0])

    def reloads() -> float:
        text = metrics.exposition().decode()
        samples = [
            s
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name == "sched_config_reloads_total"
        ]
        return sum(s.value for s in samples)

    assert reloads() == 0
    metrics.reloaded(True)
    clock[0] = 100.999
    assert reloads() == 0  # the same rendering
    clock[0] = 101.0
    assert reloads() == 1
