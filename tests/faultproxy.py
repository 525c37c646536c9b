"""A TCP fault-injection proxy for tests, between a client and redis-server on loopback.

``FaultProxy`` listens on 127.0.0.1 on a free port and forwards each connection to the
upstream server from an asyncio event loop in a daemon thread of its own. Faults are
switched from the test's thread at any time:

- ``delay(s)``: hold every chunk, both ways, ``s`` seconds before forwarding it.
- ``cut()``: close every open connection now; new connections still work.
- ``blackhole(True)``: read and discard everything and answer nothing, on open and new
  connections alike; connections that lost bytes to it are closed when it is lifted.
- ``drop_replies(match, count)``: forward matching requests (Redis executes them), but
  drop their replies and everything after, then close the connection: a lost reply.
- ``heal()``: every fault off.

Example::

    with FaultProxy("127.0.0.1", redis_port) as proxy:
        client = redis.Redis.from_url(proxy.url, retry=None)  # no silent re-send
        proxy.drop_replies(b"INCRBY")  # what redis-py's incr() sends
        with pytest.raises(redis.ConnectionError):
            client.incr("n")  # ran on Redis, but the reply was lost
        assert client.get("n") == b"1"  # on a new connection
        assert proxy.stats.replies_dropped == 1

Both RESP2 and RESP3 (redis-py 8 says HELLO 3) are understood. Replies are paired with
requests in order, one each, as for commands and pipelines; not for pub/sub, MONITOR or
CLIENT REPLY OFF. Inside MULTI a command's reply is ``+QUEUED``: to lose a transaction's
result after it ran, match ``b"EXEC"``. A matcher runs on the proxy's thread and must not
call the proxy.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any, TypeAlias, TypeVar

log = logging.getLogger(__name__)

Matcher: TypeAlias = "bytes | Callable[[list[bytes]], bool]"
Stream: TypeAlias = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Chunk: TypeAlias = tuple[float, bytes] | None  # (when due, bytes); None: end of stream
Scan: TypeAlias = Callable[[bytes], tuple[bytes, bool]]  # -> (bytes to forward, stop after)
T = TypeVar("T")

READ_SIZE = 256 * 1024
QUEUE_CHUNKS = 16  # per direction: back-pressure on the sender beyond this
MAX_LINE = 1024 * 1024
TIMEOUT_S = 5.0  # bound on every wait: connect, close, a call into the proxy's thread

_SCALARS = frozenset(b"+-:_#,(")
_BULKS = frozenset(b"$!=")
_AGGREGATES = {ord("*"): 1, ord("~"): 1, ord(">"): 1, ord("%"): 2, ord("|"): 2}
_ATTRIBUTE = ord("|")
_PUSH = ord(">")


class RespError(ValueError):
    """The byte stream is not RESP."""


def _header_int(line: bytes) -> int:
    try:
        return int(line[1:].rstrip(b"\r\n"))
    except ValueError:
        raise RespError(f"bad RESP header {line[:40]!r}") from None


class _Lines:
    """One CRLF-terminated line, which may arrive in pieces."""

    def __init__(self) -> None:
        self._part = bytearray()

    @property
    def empty(self) -> bool:
        return not self._part

    def take(self, data: bytes, pos: int) -> tuple[bytes | None, int]:
        """(the line if it is complete, the position after what was consumed)."""
        end = data.find(b"\n", pos)
        if end < 0:
            self._part += data[pos:]
            if len(self._part) > MAX_LINE:
                raise RespError("RESP line too long")
            return None, len(data)
        self._part += data[pos : end + 1]
        line = bytes(self._part)
        self._part.clear()
        return line, end + 1


class RequestScanner:
    """Splits the client->server stream into requests: RESP arrays of bulk strings or inline."""

    def __init__(self) -> None:
        self._lines = _Lines()
        self._args: list[bytes] = []
        self._want = 0  # arguments of the current array still to come
        self._bulk = bytearray()
        self._bulk_left = 0  # bytes of the current argument still to come, CRLF included

    def feed(self, data: bytes) -> list[list[bytes]]:
        """The requests that ``data`` completes, each as its list of arguments."""
        done: list[list[bytes]] = []
        pos = 0
        while pos < len(data):
            if self._bulk_left:
                pos = self._take_bulk(data, pos, done)
                continue
            line, pos = self._lines.take(data, pos)
            if line is not None:
                self._on_line(line, done)
        return done

    def _take_bulk(self, data: bytes, pos: int, done: list[list[bytes]]) -> int:
        end = min(len(data), pos + self._bulk_left)
        self._bulk += data[pos:end]
        self._bulk_left -= end - pos
        if not self._bulk_left:
            self._args.append(bytes(self._bulk[:-2]))
            self._bulk.clear()
            self._want -= 1
            if not self._want:
                done.append(self._args)
                self._args = []
        return end

    def _on_line(self, line: bytes, done: list[list[bytes]]) -> None:
        if self._want:
            size = _header_int(line) if line.startswith(b"$") else -1
            if size < 0:
                raise RespError(f"expected a bulk string, got {line[:40]!r}")
            self._bulk_left = size + 2
        elif line.startswith(b"*"):
            self._want = max(_header_int(line), 0)  # Redis ignores *0 and *-1
        elif args := line.split():  # an inline command; Redis ignores an empty line
            done.append(args)


class ReplyScanner:
    """Finds where each top-level reply starts in the server->client stream (RESP2 and 3)."""

    def __init__(self) -> None:
        self._lines = _Lines()
        self._open: list[int] = []  # elements still owed to each open aggregate
        self._skip = 0  # bytes of the current bulk string still to come, CRLF included

    def feed(self, data: bytes) -> list[tuple[int, bool]]:
        """(offset in ``data``, is a push message) of each top-level reply starting in it."""
        starts: list[tuple[int, bool]] = []
        pos = 0
        while pos < len(data):
            if self._skip:
                pos = self._skip_payload(data, pos)
                continue
            if not self._open and self._lines.empty:
                starts.append((pos, data[pos] == _PUSH))
            line, pos = self._lines.take(data, pos)
            if line is not None:
                self._on_header(line)
        return starts

    def _skip_payload(self, data: bytes, pos: int) -> int:
        end = min(len(data), pos + self._skip)
        self._skip -= end - pos
        if not self._skip:
            self._value_done()
        return end

    def _on_header(self, line: bytes) -> None:
        kind = line[0]
        if kind in _SCALARS:
            self._value_done()
        elif kind in _BULKS:
            size = _header_int(line)
            if size < 0:
                self._value_done()
            else:
                self._skip = size + 2
        elif kind in _AGGREGATES:
            # An attribute is a map followed by the value it annotates: one more element.
            owed = _header_int(line) * _AGGREGATES[kind] + (kind == _ATTRIBUTE)
            if owed > 0:
                self._open.append(owed)
            else:
                self._value_done()
        else:
            raise RespError(f"unknown RESP type in {line[:40]!r}")

    def _value_done(self) -> None:
        while self._open:
            self._open[-1] -= 1
            if self._open[-1]:
                return
            self._open.pop()


@dataclass(frozen=True)
class ProxyStats:
    """Counters since the proxy started."""

    connections: int = 0  # client connections accepted
    requests: int = 0  # requests seen, client to server: a client's handshake included
    replies_dropped: int = 0  # replies lost to drop_replies
    cut: int = 0  # connections closed by cut()


@dataclass
class _DropRule:
    match: Matcher
    left: int


def _matches(match: Matcher, args: list[bytes]) -> bool:
    if isinstance(match, bytes):
        return bool(args) and args[0].upper() == match.upper()
    return match(args)


class _Faults:
    """The faults switched on, and the counters: shared by the test's and the proxy's thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.delay_s = 0.0  # single attribute loads and stores: atomic
        self.blackholed = False
        self._rules: list[_DropRule] = []
        self._counts = asdict(ProxyStats())

    @property
    def stats(self) -> ProxyStats:
        with self._lock:
            return ProxyStats(**self._counts)

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def add_rule(self, match: Matcher, count: int) -> None:
        with self._lock:
            self._rules.append(_DropRule(match, count))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
        self.delay_s = 0.0

    def claim(self, args: list[bytes]) -> bool:
        """Count a request: True if its reply is to be dropped."""
        with self._lock:
            self._counts["requests"] += 1
            for rule in self._rules:
                if _matches(rule.match, args):
                    rule.left -= 1
                    if not rule.left:
                        self._rules.remove(rule)
                    return True
        return False


class _Link:
    """One client connection and its upstream connection, pumped both ways."""

    def __init__(self, faults: _Faults, client: Stream, upstream: Stream) -> None:
        self._faults = faults
        self._client = client
        self._upstream = upstream
        self._requests = RequestScanner()
        self._replies = ReplyScanner()
        self._pending: deque[bool] = deque()  # per request awaiting its reply: drop it?
        self._tracking = True
        self._tasks: list[asyncio.Task[None]] = []
        self.poisoned = False  # lost bytes to the blackhole

    async def run(self) -> None:
        up: asyncio.Queue[Chunk] = asyncio.Queue(QUEUE_CHUNKS)
        down: asyncio.Queue[Chunk] = asyncio.Queue(QUEUE_CHUNKS)
        self._tasks = [
            asyncio.create_task(self._guard(self._read(self._client[0], up, self._on_requests))),
            asyncio.create_task(self._guard(self._write(up, self._upstream[1]))),
            asyncio.create_task(self._guard(self._read(self._upstream[0], down, self._on_replies))),
            asyncio.create_task(self._guard(self._write(down, self._client[1]))),
        ]
        try:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            self.close()

    def close(self) -> None:
        """Abort both connections now, unsent bytes and all."""
        for _, writer in (self._client, self._upstream):
            writer.transport.abort()
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()

    async def wait_closed(self) -> None:
        closing = (writer.wait_closed() for _, writer in (self._client, self._upstream))
        await asyncio.gather(*closing, return_exceptions=True)

    async def _guard(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except OSError:  # a peer reset or went away, or a close timed out
            self.close()
        except Exception:
            log.exception("fault proxy: connection failed")
            self.close()

    async def _read(
        self, reader: asyncio.StreamReader, queue: asyncio.Queue[Chunk], scan: Scan
    ) -> None:
        loop = asyncio.get_running_loop()
        while data := await reader.read(READ_SIZE):
            if self._faults.blackholed:
                self.poisoned = True
                continue
            data, stop = scan(data)
            await queue.put((loop.time() + self._faults.delay_s, data))
            if stop:
                break
        await queue.put(None)

    async def _write(self, queue: asyncio.Queue[Chunk], writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        while (chunk := await queue.get()) is not None:
            due, data = chunk
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()  # after what is buffered is sent
        await asyncio.wait_for(writer.wait_closed(), TIMEOUT_S)
        self.close()

    def _on_requests(self, data: bytes) -> tuple[bytes, bool]:
        if self._tracking:
            try:
                requests = self._requests.feed(data)
            except RespError:
                self._tracking = False  # Redis will answer an error and close: pass it on
                return data, False
            self._pending.extend(self._faults.claim(args) for args in requests)
        return data, False

    def _on_replies(self, data: bytes) -> tuple[bytes, bool]:
        if not self._tracking:
            return data, False
        try:
            starts = self._replies.feed(data)
        except RespError:
            self._tracking = False
            return data, False
        for offset, push in starts:
            if not push and self._pending and self._pending.popleft():
                self._faults.count("replies_dropped", 1 + sum(self._pending))
                return data[:offset], True
        return data, False


class FaultProxy:
    """A proxy on 127.0.0.1 to ``upstream_host:upstream_port``, running until ``close()``."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._faults = _Faults()
        self._links: set[_Link] = set()
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"faultproxy-{upstream_port}", daemon=True
        )
        self._thread.start()
        try:
            self._server = self._call(self._listen())
        except BaseException:
            self.close()
            raise
        self.port: int = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def stats(self) -> ProxyStats:
        return self._faults.stats

    def delay(self, seconds: float) -> None:
        """Hold every chunk, both ways, ``seconds`` before forwarding it (0: off)."""
        if seconds < 0:
            raise ValueError("delay must be >= 0")
        self._faults.delay_s = seconds

    def cut(self) -> int:
        """Close every open connection now; return how many."""
        closed = self._call(self._close_links(poisoned_only=False))
        self._faults.count("cut", closed)
        return closed

    def blackhole(self, on: bool) -> None:
        """Discard everything both ways (on); off closes the connections that lost bytes."""
        self._faults.blackholed = on
        if not on:
            self._call(self._close_links(poisoned_only=True))

    def drop_replies(self, match: Matcher, count: int = 1) -> None:
        """Lose the replies to the next ``count`` requests that match, closing each connection.

        ``match``: a command name (any case), or a predicate on a request's arguments.
        """
        if count < 1:
            raise ValueError("count must be >= 1")
        if not (callable(match) or (isinstance(match, bytes) and match)):
            raise TypeError("match must be a command name as bytes, or a callable")
        self._faults.add_rule(match, count)

    def heal(self) -> None:
        """Every fault off; pending drop_replies forgotten."""
        self._faults.clear()
        self.blackhole(False)

    def close(self) -> None:
        """Close every connection and the listening socket, and stop the thread."""
        if self._closed:
            return
        try:
            if hasattr(self, "_server"):
                self._call(self._shutdown())
        finally:
            self._closed = True
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(TIMEOUT_S)
            if not self._thread.is_alive():
                self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the proxy's thread and wait, bounded, for its result."""
        if self._closed:
            work.close()
            raise RuntimeError("the FaultProxy is closed")
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(TIMEOUT_S)

    async def _listen(self) -> asyncio.Server:
        return await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=READ_SIZE)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._faults.count("connections")
        upstream = await self._connect(writer)
        if upstream is None:
            return
        link = _Link(self._faults, (reader, writer), upstream)
        self._links.add(link)
        try:
            await link.run()
        finally:
            self._links.discard(link)

    async def _connect(self, client: asyncio.StreamWriter) -> Stream | None:
        try:
            opening = asyncio.open_connection(*self.upstream, limit=READ_SIZE)
            return await asyncio.wait_for(opening, TIMEOUT_S)
        except OSError:
            client.transport.abort()
            return None
        except asyncio.CancelledError:
            client.transport.abort()
            raise

    async def _close_links(self, poisoned_only: bool) -> int:
        links = [link for link in self._links if link.poisoned or not poisoned_only]
        for link in links:
            link.close()
        await asyncio.wait_for(asyncio.gather(*(link.wait_closed() for link in links)), TIMEOUT_S)
        return len(links)

    async def _shutdown(self) -> None:
        self._server.close()
        for link in self._links:
            link.close()
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.wait_for(asyncio.gather(*others, return_exceptions=True), TIMEOUT_S)
        await self._server.wait_closed()
