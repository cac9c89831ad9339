"""A lean HTTP/1.1 client for the gateway -> replica hop: pooled keep-alive connections.

Contract: `ReplicaClient(host, port)` sends `post(path, body)` as one HTTP/1.1 POST with a JSON
content type over a persistent connection taken from its pool (or a new one), and returns
`(status, body bytes)` once the whole answer is in. It raises `ReplicaUnreachable` when no
connection could be made (the request was never sent) and `ReplicaDisconnected` when the
connection broke before the whole answer came (the replica may have seen the request).
There is no timeout of its own: the caller's deadline (`asyncio.timeout`) bounds every call. A
call that is cancelled (deadline, client gone) closes its connection, whose state is unknown,
and never returns it to the pool.

Why not httpx: the router sends every request to a replica on 127.0.0.1, with the same method,
path and headers every time, and the answer is small JSON. httpx (with httpcore, h11 and anyio
under it) spends most of the gateway's CPU per request on generality this hop does not need
(see docs/benchmarks/gateway.md). Here a request is one `transport.write` of a pre-built head
plus the body, and the answer is parsed by httptools (the C parser uvicorn uses) in
`data_received`: no task, no stream object, no header objects per request.

Connections: kept open after an answer unless the replica said `Connection: close`; a pooled
connection idle longer than `max_idle_s` is closed rather than reused, so that the replica's
keep-alive timeout (`serving.replica`: longer than this) never closes a connection just as a
request is written on it. At most `max_idle` idle connections are kept.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import cast

import httptools

MAX_IDLE_S = 20.0  # the replica keeps connections for REPLICA_KEEP_ALIVE_S (longer)
REPLICA_KEEP_ALIVE_S = 30


class ReplicaTransportError(Exception):
    """The request could not be completed over the connection."""


class ReplicaUnreachable(ReplicaTransportError):
    """No connection could be made: the request was never sent."""


class ReplicaDisconnected(ReplicaTransportError):
    """The connection broke before the whole answer came."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection; at most one request at a time."""

    __slots__ = (
        "_body",
        "_close_after",
        "_done",
        "_parser",
        "_status",
        "idle_since",
        "lost",
        "transport",
    )

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._done: asyncio.Future[tuple[int, bytes]] | None = None
        self._body: list[bytes] = []
        self._status = 0
        self._close_after = False

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(ReplicaDisconnected(f"malformed answer from the replica: {error}"))
            self.close()

    def eof_received(self) -> bool:
        self._fail(ReplicaDisconnected("the replica closed the connection"))
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        reason = f" ({exc})" if exc is not None else ""
        self._fail(ReplicaDisconnected(f"the connection to the replica was lost{reason}"))

    # -- httptools callbacks -------------------------------------------------------------------

    def on_status(self, status: bytes) -> None:
        self._status = self._parser.get_status_code()

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"connection" and value.strip().lower() == b"close":
            self._close_after = True

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        done = self._done
        self._done = None
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        self._body = []
        if not self._parser.should_keep_alive():
            self._close_after = True
        if done is not None and not done.done():
            done.set_result((self._status or self._parser.get_status_code(), body))

    # -- use -----------------------------------------------------------------------------------

    def request(self, data: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None
        done: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        self._done = done
        self._status = 0
        self.transport.write(data)
        return done

    @property
    def reusable(self) -> bool:
        return not (self.lost or self._close_after or self._done is not None)

    def close(self) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, error: ReplicaTransportError) -> None:
        done = self._done
        self._done = None
        if done is not None and not done.done():
            done.set_exception(error)


class ReplicaClient:
    """Pooled keep-alive connections to one replica (see the module docstring)."""

    def __init__(
        self, host: str, port: int, *, max_idle: int = 64, max_idle_s: float = MAX_IDLE_S
    ) -> None:
        self.host = host
        self.port = port
        self.max_idle = max_idle
        self.max_idle_s = max_idle_s
        self._idle: deque[_Connection] = deque()
        self._closed = False
        self._host_header = f"{host}:{port}".encode("latin-1")
        self._heads: dict[str, bytes] = {}

    def _head(self, path: str) -> bytes:
        """The request head up to the Content-Length value (built once per path)."""
        head = (
            b"POST " + path.encode("latin-1") + b" HTTP/1.1\r\nhost: " + self._host_header
            + b"\r\ncontent-type: application/json\r\ncontent-length: "
        )  # fmt: skip
        self._heads[path] = head
        return head

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST the JSON `body` to `path`; (status, answer body)."""
        head = self._heads.get(path) or self._head(path)
        conn = self._take()
        if conn is None:
            conn = await self._connect()
        done = conn.request(b"%b%d\r\n\r\n%b" % (head, len(body), body))
        try:
            answer = await done
        except BaseException:
            conn.close()  # cancelled or broken mid-request: its state is unknown
            raise
        if conn.reusable and not self._closed and len(self._idle) < self.max_idle:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        else:
            conn.close()
        return answer

    def _take(self) -> _Connection | None:
        idle = self._idle
        if not idle:
            return None
        now = time.monotonic()
        while idle:
            conn = idle.pop()  # the most recently used: the least likely to have timed out
            if conn.reusable and now - conn.idle_since < self.max_idle_s:
                return conn
            conn.close()
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _transport, conn = await loop.create_connection(_Connection, self.host, self.port)
        except OSError as error:
            raise ReplicaUnreachable(
                f"cannot connect to {self.host}:{self.port}: {error.strerror or error}"
            ) from None
        return conn

    def close(self) -> None:
        """Close the idle connections; connections in use close when their request ends."""
        self._closed = True
        while self._idle:
            self._idle.pop().close()
