"""The fault-injection proxy, against a real redis-server, and its RESP scanners on their own."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from faultproxy import FaultProxy, ReplyScanner, RequestScanner, RespError

pytestmark = pytest.mark.timeout(10)

MB = 1024 * 1024
Clients = Callable[..., redis.Redis]


@pytest.fixture
def proxy(redis_url: str) -> Iterator[FaultProxy]:
    parts = urlsplit(redis_url)
    assert parts.hostname is not None and parts.port is not None
    with FaultProxy(parts.hostname, parts.port) as proxy:
        yield proxy


@pytest.fixture
def direct(redis_url: str) -> Iterator[redis.Redis]:
    """A client straight to Redis, to see what really ran."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def clients(proxy: FaultProxy) -> Iterator[Clients]:
    """Clients through the proxy that never retry a command (``retry=None``: no silent re-send)."""
    made: list[redis.Redis] = []

    def make(**options: Any) -> redis.Redis:
        client = redis.Redis.from_url(proxy.url, **{"retry": None, "socket_timeout": 2, **options})
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def elapsed_s(work: Callable[[], object]) -> float:
    began = time.monotonic()
    work()
    return time.monotonic() - began


# Pass-through


def test_get_and_set_pass_through(proxy: FaultProxy, clients: Clients) -> None:
    client = clients()
    assert client.set("k", "v") is True
    assert client.get("k") == b"v"
    assert client.get("missing") is None
    assert proxy.stats.connections == 1
    assert proxy.url == f"redis://127.0.0.1:{proxy.port}/0"


def test_pipeline_of_1000_commands_with_1mb_values(proxy: FaultProxy, clients: Clients) -> None:
    client = clients(socket_timeout=5)
    client.ping()
    values = {f"big{i}": f"{i:04d}".encode() * (MB // 4) for i in range(0, 1000, 100)}
    seen = proxy.stats.requests
    pipe = client.pipeline(transaction=False)
    for i in range(1000):
        if i % 100 == 0:
            pipe.set(f"big{i}", values[f"big{i}"])
        elif i % 100 == 50:
            pipe.get(f"big{i - 50}")
        else:
            pipe.incr("n")
    replies = pipe.execute()
    assert replies[0::100] == [True] * 10
    assert replies[50::100] == list(values.values())
    assert replies[-1] == 980  # the last of the INCRs
    assert proxy.stats.requests - seen == 1000  # every request found across split reads
    proxy.drop_replies(b"PING")  # replies still paired with requests after 10 MB of them
    with pytest.raises(redis.ConnectionError):
        client.ping()


def test_many_clients_at_once(proxy: FaultProxy, clients: Clients, direct: redis.Redis) -> None:
    def work() -> None:
        client = clients()
        for _ in range(50):
            client.incr("n")

    threads = [threading.Thread(target=work) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(8)
    assert direct.get("n") == b"1000"
    assert proxy.stats.connections == 20


# Lost replies


def test_dropped_reply_ran_but_the_client_sees_a_connection_error(
    proxy: FaultProxy, clients: Clients, direct: redis.Redis
) -> None:
    client = clients()
    client.ping()
    proxy.drop_replies(b"incrby")  # any case; redis-py's incr() sends INCRBY
    with pytest.raises(redis.ConnectionError):
        client.incr("n")
    assert direct.get("n") == b"1"
    assert proxy.stats.replies_dropped == 1
    assert client.incr("n") == 2  # on a new connection: the rule is used up
    assert proxy.stats.connections == 2


def test_redis_py_default_retry_resends_after_a_lost_reply(
    proxy: FaultProxy, direct: redis.Redis
) -> None:
    # redis-py's own defaults: Redis() retries, from_url() does not (it bypasses that default).
    client = redis.Redis(host="127.0.0.1", port=proxy.port, socket_timeout=2)
    retry = client.get_retry()
    if retry is None or retry.get_retries() == 0:
        pytest.skip("this redis-py does not retry by default")
    try:
        proxy.drop_replies(b"INCRBY")
        assert client.incr("n") == 2  # no error: the INCR was silently sent twice
        assert direct.get("n") == b"2"
    finally:
        client.close()


def test_dropped_reply_in_a_pipeline_fails_it_all(
    proxy: FaultProxy, clients: Clients, direct: redis.Redis
) -> None:
    seen: list[list[bytes]] = []

    def third_set(args: list[bytes]) -> bool:
        seen.append(args)
        return args == [b"SET", b"k3", b"3"]

    client = clients()
    client.ping()
    proxy.drop_replies(third_set)
    pipe = client.pipeline(transaction=False)  # MULTI would make every reply +QUEUED
    for i in range(1, 6):
        pipe.set(f"k{i}", i)
    with pytest.raises(redis.ConnectionError):
        pipe.execute()
    assert direct.mget("k1", "k2", "k3") == [b"1", b"2", b"3"]
    assert [b"SET", b"k3", b"3"] in seen
    assert proxy.stats.replies_dropped == 1


def test_dropped_reply_of_one_lua_script_by_its_sha(
    proxy: FaultProxy, clients: Clients, direct: redis.Redis
) -> None:
    client = clients()
    bump = client.register_script("return redis.call('INCR', KEYS[1])")
    other = client.register_script("return redis.call('GET', KEYS[1])")
    direct.script_load(bump.script)
    sha = bump.sha.encode()
    proxy.drop_replies(lambda args: args[0].upper() == b"EVALSHA" and args[1] == sha)
    assert other(keys=["n"]) is None  # another script's reply is not dropped
    with pytest.raises(redis.ConnectionError):
        bump(keys=["n"])
    assert direct.get("n") == b"1"
    assert bump(keys=["n"]) == 2


# Cut, blackhole, delay, heal


def test_cut_fails_the_next_command_of_an_idle_connection_once(
    proxy: FaultProxy, clients: Clients
) -> None:
    client = clients(single_connection_client=True)  # keeps its connection, like a worker
    assert client.ping() is True
    assert proxy.cut() == 1
    with pytest.raises(redis.ConnectionError):
        client.ping()
    assert client.ping() is True  # reconnected
    assert proxy.stats.cut == 1


def test_cut_idle_pooled_connection_is_replaced_unseen(proxy: FaultProxy, clients: Clients) -> None:
    client = clients()
    assert client.ping() is True
    assert proxy.cut() == 1
    time.sleep(0.05)  # the EOF reaches the client's socket
    assert client.ping() is True  # the pool saw the EOF on checkout and reconnected
    assert proxy.stats.connections == 2


def test_blackhole_times_out_until_healed(proxy: FaultProxy, clients: Clients) -> None:
    client = clients(socket_timeout=0.5)
    assert client.ping() is True
    proxy.blackhole(True)
    with pytest.raises(redis.TimeoutError):
        client.ping()
    with pytest.raises(redis.TimeoutError):
        clients(socket_timeout=0.5).ping()  # a new connection is blackholed too
    proxy.heal()
    assert client.ping() is True
    assert clients(socket_timeout=0.5).ping() is True


def test_blackhole_off_closes_the_connections_that_lost_bytes(
    proxy: FaultProxy, clients: Clients
) -> None:
    client = clients(single_connection_client=True, socket_timeout=0.3)
    idle = clients(single_connection_client=True)
    assert client.ping() is True
    assert idle.ping() is True
    proxy.blackhole(True)
    with pytest.raises(redis.TimeoutError):
        client.ping()
    proxy.blackhole(False)
    assert client.ping() is True  # redis-py dropped the timed-out connection itself
    assert idle.ping() is True  # lost nothing, so kept
    assert proxy.stats.connections == 3


def test_delay_holds_each_direction(proxy: FaultProxy, clients: Clients) -> None:
    client = clients()
    client.ping()
    proxy.delay(0.2)
    assert elapsed_s(client.ping) >= 0.39  # 0.2 s there and 0.2 s back
    proxy.delay(0)
    assert elapsed_s(client.ping) < 0.2


def test_heal_turns_every_fault_off(proxy: FaultProxy, clients: Clients) -> None:
    client = clients()
    client.ping()
    proxy.delay(1)
    proxy.drop_replies(b"PING", count=5)
    proxy.heal()
    assert elapsed_s(client.ping) < 0.5
    assert proxy.stats.replies_dropped == 0


def test_close_ends_connections_and_thread(redis_url: str) -> None:
    parts = urlsplit(redis_url)
    assert parts.hostname is not None and parts.port is not None
    with FaultProxy(parts.hostname, parts.port) as proxy:
        client = redis.Redis.from_url(proxy.url, retry=None, single_connection_client=True)
        assert client.ping() is True
    try:
        with pytest.raises(redis.ConnectionError):
            client.ping()
        with pytest.raises(redis.ConnectionError):
            client.ping()  # nothing listens any more
    finally:
        client.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("faultproxy")]
    with pytest.raises(RuntimeError):
        proxy.cut()


def test_bad_arguments_are_refused(proxy: FaultProxy) -> None:
    with pytest.raises(ValueError):
        proxy.delay(-1)
    with pytest.raises(ValueError):
        proxy.drop_replies(b"GET", count=0)
    with pytest.raises(TypeError):
        proxy.drop_replies(b"")


# The RESP scanners, fed whole and a byte at a time


def feed_bytewise(feed: Callable[[bytes], list[Any]], data: bytes) -> list[Any]:
    return [found for i in range(len(data)) for found in feed(data[i : i + 1])]


REQUESTS = (
    b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n"  # CRLF inside a value
    b"*0\r\n"  # ignored, as Redis does
    b"\r\n"  # an empty inline line, ignored
    b"PING hello\r\n"  # inline
    b"*2\r\n$3\r\nGET\r\n$0\r\n\r\n"
)
REQUEST_ARGS = [[b"SET", b"k", b"a\r\nb"], [b"PING", b"hello"], [b"GET", b""]]


def test_request_scanner_whole_and_split() -> None:
    assert RequestScanner().feed(REQUESTS) == REQUEST_ARGS
    assert feed_bytewise(RequestScanner().feed, REQUESTS) == REQUEST_ARGS


def test_request_scanner_refuses_a_non_bulk_argument() -> None:
    with pytest.raises(RespError):
        RequestScanner().feed(b"*1\r\n:1\r\n")


REPLIES = [
    b"+OK\r\n",
    b"-ERR no\r\n",
    b":42\r\n",
    b"$5\r\nhe\r\no\r\n",
    b"$-1\r\n",
    b"*-1\r\n",
    b"*0\r\n",
    b"*3\r\n:1\r\n*2\r\n$1\r\na\r\n*0\r\n$-1\r\n",  # nested
    b"%1\r\n+k\r\n~2\r\n_\r\n#t\r\n",  # RESP3 map, set, null, boolean
    b"|1\r\n+ttl\r\n:3\r\n,1.5\r\n",  # an attribute and the double it annotates
    b">2\r\n+message\r\n(12345678901234567890\r\n",  # a push
    b"=8\r\ntxt:abcd\r\n",
]


def test_reply_scanner_whole_and_split() -> None:
    stream = b"".join(REPLIES)
    offsets = [sum(map(len, REPLIES[:i])) for i in range(len(REPLIES))]
    pushes = [reply.startswith(b">") for reply in REPLIES]
    assert ReplyScanner().feed(stream) == list(zip(offsets, pushes, strict=True))
    assert [push for _, push in feed_bytewise(ReplyScanner().feed, stream)] == pushes


def test_reply_scanner_refuses_an_unknown_type() -> None:
    with pytest.raises(RespError):
        ReplyScanner().feed(b"?1\r\n")
