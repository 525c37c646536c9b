"""The connection to Redis: URLs, the Lua scripts, and the one translation of driver errors
into sched's own (``StoreError``, ``NotLeaderError``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import redis
from redis.commands.core import Script

from scheduler.core.urls import redact
from scheduler.errors import NotLeaderError, RedisUrlError, SchedError, StoreError
from scheduler.store.keys import Keys

Call = tuple[str, Sequence[str], Sequence[str | int]]  # a script's name, its keys and args


@dataclass(frozen=True)
class Packed:
    """Script calls already in Redis' wire format (``Connection.pack``), to send later."""

    calls: Sequence[Call]
    chunks: list[bytes]

    @classmethod
    def joined(cls, parts: Sequence[Packed]) -> Packed:
        """``parts`` one after another, sent in one round trip."""
        return cls([c for p in parts for c in p.calls], [b for p in parts for b in p.chunks])


__all__ = ["Connection", "check_url", "connect", "redact", "translated"]

SCRIPTS = (
    "acquire", "release", "upsert", "remove", "dispatch", "pause", "enqueue",
    "claim", "start", "finish", "promote", "reap", "revive", "heartbeat", "repair",
    "returned", "purge", "relayed", "celery_outcome", "states",
)  # fmt: skip


def check_url(url: str) -> None:
    """Refuse a URL redis-py would misread: a port or database that is not a number would
    otherwise be an error deep inside, or silently database 0."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise RedisUrlError(
            f"unsupported Redis URL {redact(url)!r}; use redis://, rediss:// or unix://"
        )
    try:
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError:
        raise RedisUrlError(
            f"invalid Redis URL {redact(url)!r}: the port is not a number"
        ) from None
    db = parts.path.lstrip("/") if parts.scheme != "unix" else ""
    for key, value in parse_qsl(parts.query):
        if key == "db":
            db = value
    if db and not db.isdigit():
        raise RedisUrlError(f"invalid Redis URL {redact(url)!r}: database {db!r} is not a number")


def connect(url: str, timeout_s: float = 5.0) -> redis.Redis:
    """A client for ``redis://``, ``rediss://`` (certificates verified) or ``unix://`` URLs."""
    check_url(url)
    scheme = urlsplit(url).scheme
    tls: dict[str, Any] = {}
    if scheme == "rediss" and "ssl_cert_reqs" not in url:
        tls["ssl_cert_reqs"] = "required"  # verify the server's certificate unless told not to
    try:
        return redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            health_check_interval=30,
            **tls,
        )
    except ValueError as exc:
        raise RedisUrlError(f"invalid Redis URL {redact(url)!r}: {exc}") from None


def refusal(exc: redis.ResponseError, what: str) -> SchedError:
    """A script's or command's error reply as sched's error."""
    if "NOTLEADER" in str(exc):
        return NotLeaderError("the leader lease is no longer ours")
    return StoreError(f"Redis refused {what}: {exc}")


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Turn every redis-py error raised inside into sched's own."""
    try:
        yield
    except redis.ResponseError as exc:
        raise refusal(exc, what) from None
    except redis.RedisError as exc:
        raise StoreError(f"Redis unavailable: {type(exc).__name__}: {exc}") from None


def check_replies(replies: Sequence[Any], what: str) -> None:
    """Raise for the first error reply of a pipeline run with ``raise_on_error=False``."""
    for reply in replies:
        if isinstance(reply, redis.ResponseError):
            raise refusal(reply, what)


class Connection:
    """A redis-py client, the namespace's keys and the registered scripts."""

    def __init__(self, client: redis.Redis, namespace: str = "sched") -> None:
        self.client = client
        self.keys = Keys(namespace)
        lua = resources.files("scheduler.store").joinpath("lua")
        self.scripts: dict[str, Script] = {
            name: client.register_script(lua.joinpath(f"{name}.lua").read_text())
            for name in SCRIPTS
        }

    def run(self, script: str, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        with translated(script):
            return self.scripts[script](keys=list(keys), args=list(args))

    def run_all(self, calls: Sequence[Call]) -> list[Any]:
        """Script calls in one round trip, in order; error replies come back in their place.

        EVALSHA alone: redis-py's pipelined scripts ask ``SCRIPT EXISTS`` first, a round
        trip per pipeline. A call Redis answers NOSCRIPT (it restarted, or was flushed) did
        not run: its script is loaded and the call sent again.
        """
        return self._again_where_lost(calls, self._evalsha_all(calls))

    def pack(self, calls: Sequence[Call]) -> Packed:
        """``calls`` encoded for the wire now, so that sending them later costs only the
        send (packing 40,000 arguments takes milliseconds)."""
        pool = self.client.connection_pool
        connection: Any = pool.get_connection()  # redis-py's connections are untyped
        try:
            commands = [("EVALSHA", self.scripts[name].sha, len(keys), *keys, *args)
                        for name, keys, args in calls]  # fmt: skip
            return Packed(calls, list(connection.pack_commands(commands)))
        finally:
            pool.release(connection)

    def send(self, packed: Packed) -> list[Any]:
        """``run_all`` for calls packed ahead: one round trip, replies in order."""
        if not packed.calls:
            return []
        pool = self.client.connection_pool
        connection: Any = pool.get_connection()  # redis-py's connections are untyped
        replies: list[Any] = []
        try:
            with translated(packed.calls[0][0]):
                connection.send_packed_command(packed.chunks)
                for _ in packed.calls:
                    try:
                        replies.append(connection.read_response())
                    except redis.ResponseError as exc:  # this call's error; the rest follow
                        replies.append(exc)
        except BaseException:
            connection.disconnect()  # replies left unread would answer the next command
            raise
        finally:
            pool.release(connection)
        return self._again_where_lost(packed.calls, replies)

    def _again_where_lost(self, calls: Sequence[Call], replies: list[Any]) -> list[Any]:
        """``replies`` with each NOSCRIPT answer replaced: the call did not run, so its
        script is loaded and the call sent again."""
        lost = redis.exceptions.NoScriptError
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, lost)]
        if missing:
            with translated("SCRIPT LOAD"):
                for name in sorted({calls[i][0] for i in missing}):
                    self.client.script_load(self.scripts[name].script)
            for i, reply in zip(missing, self._evalsha_all([calls[i] for i in missing]),
                                strict=True):  # fmt: skip
                replies[i] = reply
        return replies

    def _evalsha_all(self, calls: Sequence[Call]) -> list[Any]:
        pipe = self.pipeline()
        for name, keys, args in calls:
            pipe.execute_command("EVALSHA", self.scripts[name].sha, len(keys), *keys, *args)
        with translated(calls[0][0] if calls else "script"):
            return list(pipe.execute(raise_on_error=False))

    def call(self, method: str, *args: Any) -> Any:
        with translated(method):
            return getattr(self.client, method)(*args)

    def pipeline(self) -> Any:
        return self.client.pipeline(transaction=False)
