"""Requests to responses, apart from any socket: routing, the action token, and limits.

Reads are open (bind beyond loopback only if that is what you want); actions (pause,
resume, trigger, retry or purge a dead letter; add, change, remove or enqueue a schedule)
need ``Authorization: Bearer SECRET`` with a secret from ``SCHED_HTTP_TOKEN``
(``name:secret`` pairs separated by commas, or one bare secret named ``token``), are POST,
PATCH or DELETE, and are refused for cross-site requests. Without a token configured the
page and API are read-only and say so. Each operator action is recorded in the schedule's
history with the token's name.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote

from scheduler.errors import (
    OwnershipError,
    SchedError,
    ScheduleError,
    ScheduleExistsError,
    StoreError,
    UnknownScheduleError,
)
from scheduler.store import Store

BODY_MAX = 64 * 1024


def host_of(value: str) -> str:
    """``host`` of ``host:port``, ``[::1]:port`` or ``host``, lower-case."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rpartition(":")[0] if value.count(":") == 1 else value


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass
class Request:
    method: str
    path: str  # decoded, without the query
    query: dict[str, str]
    headers: Mapping[str, str]  # lower-case names
    bad_query: bool = False  # the query could not be parsed (or had over 20 fields)
    body: bytes = b""  # at most BODY_MAX bytes

    @classmethod
    def parse(cls, method: str, target: str, headers: Mapping[str, str],
              body: bytes = b"") -> Request:  # fmt: skip
        """A request; a query that cannot be parsed (or has over 20 fields) is left empty
        and marked, to be answered 400."""
        raw_path, _, raw_query = target.partition("?")
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            query = {k: v[0] for k, v in parse_qs(raw_query, max_num_fields=20).items()}
        except ValueError:
            return cls(method, unquote(raw_path), {}, lowered, bad_query=True, body=body)
        return cls(method, unquote(raw_path), query, lowered, body=body)

    def json_object(self, allowed: frozenset[str]) -> dict[str, Any]:
        """The body as a JSON object with no key outside ``allowed``; BadRequest otherwise."""
        try:
            text = self.body.decode("utf-8")
            value = json.loads(text, parse_constant=_not_json) if text.strip() else {}
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # nested 64 KiB deep
            raise BadRequest(f"the body is not JSON: {str(exc)[:200]}") from None
        if not isinstance(value, dict):
            raise BadRequest(f"the body must be a JSON object, not {_json_kind(value)}")
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise BadRequest(f"unknown key {unknown[0][:60]!r} in the body; expected "
                             f"{', '.join(sorted(allowed))}")  # fmt: skip
        return value

    @property
    def host(self) -> str:
        """The Host header without its port (and without IPv6 brackets)."""
        return host_of(self.headers.get("host", ""))

    def number(self, name: str, default: int, low: int, high: int) -> int:
        text = self.query.get(name, "")
        if not text:
            return default
        if not re.fullmatch(r"\d{1,9}", text):
            raise BadRequest(f"{name}: expected a whole number, got {text[:40]!r}")
        return max(low, min(high, int(text)))


@dataclass
class Response:
    status: HTTPStatus
    kind: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class BadRequest(SchedError):
    pass


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")  # Python's json reads NaN and Infinity


def _json_kind(value: Any) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number")


class Refused(SchedError):
    def __init__(self, status: HTTPStatus, text: str) -> None:
        super().__init__(text)
        self.status = status


def json_response(data: Any, status: HTTPStatus = HTTPStatus.OK) -> Response:
    return Response(status, "application/json", json.dumps(data, indent=1).encode() + b"\n")


def parse_tokens(text: str) -> dict[str, str]:
    """``name:secret,name:secret`` (or one bare secret, named ``token``) -> secret -> name."""
    tokens = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, secret = item.partition(":")
        if not sep:
            name, secret = "token", item
        if len(secret) < 8:
            raise SchedError("SCHED_HTTP_TOKEN: every secret needs at least 8 characters")
        tokens[secret] = name or "token"
    return tokens


@dataclass
class Context:
    """What handlers need: the store, the clock, what this process knows, the tokens."""

    store: Store
    now: Callable[[], datetime]
    tokens: dict[str, str]  # secret -> name
    sources: Callable[[], Mapping[str, str]] = dict  # schedule -> "path:line", when loaded here
    hosts: frozenset[str] = frozenset()  # names the page may be reached by (SCHED_HTTP_HOSTS)

    def host_allowed(self, host: str) -> bool:
        """An IP address, localhost, or a name in SCHED_HTTP_HOSTS: a page reached through
        any other name may be a DNS rebinding attack reading it from a browser."""
        return is_ip(host) or host == "localhost" or host in self.hosts

    @property
    def writable(self) -> bool:
        return bool(self.tokens)

    def who(self, request: Request) -> str:
        """The name of the token an action came with; Refused otherwise."""
        if not self.tokens:
            raise Refused(HTTPStatus.FORBIDDEN, "read-only: no SCHED_HTTP_TOKEN is configured")
        site = request.headers.get("sec-fetch-site", "")
        origin, same = request.headers.get("origin", ""), True
        if origin:  # the page's own origin, or one of the names a proxy serves it by
            seen = host_of(origin.split("://", 1)[-1])
            same = seen == request.host or (seen in self.hosts and origin != "null")
        if site == "cross-site" or (origin and not same):
            raise Refused(HTTPStatus.FORBIDDEN, "cross-site requests cannot act")
        scheme, _, secret = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            for known, name in self.tokens.items():
                if hmac.compare_digest(known.encode(), secret.strip().encode()):
                    return name
        raise Refused(HTTPStatus.UNAUTHORIZED, "an action needs Authorization: Bearer <token>")


Handler = Callable[[Context, Request, list[str]], Response]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


class App:
    def __init__(
        self, context: Context, routes: list[tuple[str, str, Handler]],
        error_page: Callable[[HTTPStatus, str], bytes],
    ) -> None:  # fmt: skip
        self.context = context
        self.routes = [Route(m, re.compile(p), h) for m, p, h in routes]
        self.error_page = error_page

    def handle(self, request: Request, body_length: int) -> Response:
        try:
            if not self.context.host_allowed(request.host):
                text = f"unknown host {request.host[:100]!r}: add it to SCHED_HTTP_HOSTS"
                raise Refused(HTTPStatus.BAD_REQUEST, text)
            if request.bad_query:
                raise BadRequest("the query cannot be parsed (or has over 20 fields)")
            if body_length > BODY_MAX:
                raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "the body is too large")
            allowed = set()
            for route in self.routes:
                match = route.pattern.fullmatch(request.path)
                if match is None:
                    continue
                allowed.add(route.method)
                if route.method == request.method:
                    return route.handler(self.context, request, list(match.groups()))
            if allowed:
                raise Refused(HTTPStatus.METHOD_NOT_ALLOWED, f"use {', '.join(sorted(allowed))}")
            raise Refused(HTTPStatus.NOT_FOUND, "not found")
        except Refused as exc:
            return self._error(exc.status, str(exc), request)
        except UnknownScheduleError as exc:
            return self._error(HTTPStatus.NOT_FOUND, str(exc), request)
        except ScheduleError as exc:  # the YAML messages, one problem each
            problems = [{"where": p.where, "message": p.message} for p in exc.problems]
            return json_response({"error": str(exc), "problems": problems},
                                 HTTPStatus.UNPROCESSABLE_ENTITY)  # fmt: skip
        except (OwnershipError, ScheduleExistsError) as exc:
            return self._error(HTTPStatus.CONFLICT, str(exc), request)
        except StoreError as exc:
            return self._error(HTTPStatus.SERVICE_UNAVAILABLE, str(exc), request)
        except SchedError as exc:
            return self._error(HTTPStatus.BAD_REQUEST, str(exc), request)

    def _error(self, status: HTTPStatus, text: str, request: Request) -> Response:
        if request.path.startswith("/api/") or request.method != "GET":
            response = json_response({"error": text}, status)
        else:
            page = self.error_page(status, text)
            response = Response(status, "text/html; charset=utf-8", page)
        if status == HTTPStatus.UNAUTHORIZED:
            response.headers["WWW-Authenticate"] = 'Bearer realm="sched"'
        return response
