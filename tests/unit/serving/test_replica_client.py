"""The gateway's keep-alive client for replicas, against real servers on 127.0.0.1: the replica's
own HTTP app on uvicorn, and a small asyncio HTTP server whose misbehaviours are chosen per test
(closing mid-request, `Connection: close`, chunked answers, never answering)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import uvicorn

from plinth.types import Scaling
from serving.engines.noop import NoopEngine
from serving.replica import ReplicaServer, server_config
from serving.replica_client import ReplicaClient, ReplicaDisconnected, ReplicaUnreachable
from serving.router import Router
from serving.runtime_local import free_port


class RawServer:
    """Reads each request (head, then Content-Length bytes) and answers per `mode`."""

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.status = b"201 Created"
        self.connections = 0
        self.requests: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                if self.mode == "drop":
                    break
                if self.mode == "hang":
                    await asyncio.sleep(30)
                if self.mode == "chunked":
                    writer.write(
                        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                        b"3\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n"
                    )
                else:
                    close = b"connection: close\r\n" if self.mode == "close" else b""
                    writer.write(
                        b"HTTP/1.1 " + self.status + b"\r\n" + close
                        + b"content-length: %d\r\n\r\n%b" % (len(body), body)
                    )  # fmt: skip
                await writer.drain()
                if self.mode == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def test_it_keeps_one_connection_for_sequential_requests() -> None:
    async with RawServer() as server:
        client = ReplicaClient("127.0.0.1", server.port)
        answers = [await client.post("/predict", b'{"inputs": %d}' % i) for i in range(5)]
        client.close()

    assert answers == [(201, b'{"inputs": %d}' % i) for i in range(5)]
    assert server.connections == 1
    assert server.requests[0].startswith(b"POST /predict HTTP/1.1\r\nhost: 127.0.0.1:")
    assert b"content-type: application/json\r\ncontent-length: 13\r\n\r\n" in server.requests[0]


async def test_concurrent_requests_get_their_own_connections() -> None:
    async with RawServer() as server:
        client = ReplicaClient("127.0.0.1", server.port)
        bodies = [b'{"n": %d}' % i for i in range(8)]
        answers = await asyncio.gather(*(client.post("/predict", b) for b in bodies))
        again = await client.post("/predict", b"{}")
        client.close()

    assert [body for _status, body in answers] == bodies
    assert again == (201, b"{}")
    assert server.connections == 8  # the ninth request reused one of them


async def test_connection_close_and_idle_expiry_open_a_new_connection() -> None:
    async with RawServer("close") as server:
        client = ReplicaClient("127.0.0.1", server.port)
        for _ in range(3):
            assert await client.post("/p", b"{}") == (201, b"{}")
    assert server.connections == 3

    async with RawServer() as server:
        client = ReplicaClient("127.0.0.1", server.port, max_idle_s=0.0)
        for _ in range(3):
            assert await client.post("/p", b"{}") == (201, b"{}")
    assert server.connections == 3


async def test_a_chunked_answer_is_read_whole() -> None:
    async with RawServer("chunked") as server:
        client = ReplicaClient("127.0.0.1", server.port)
        assert await client.post("/p", b"{}") == (200, b"[1,2]")
        assert await client.post("/p", b"{}") == (200, b"[1,2]")
    assert server.connections == 1


async def test_no_listener_is_unreachable() -> None:
    client = ReplicaClient("127.0.0.1", free_port())
    with pytest.raises(ReplicaUnreachable, match="cannot connect"):
        await client.post("/predict", b"{}")


async def test_a_connection_closed_before_the_answer_is_a_disconnect() -> None:
    async with RawServer("drop") as server:
        client = ReplicaClient("127.0.0.1", server.port)
        with pytest.raises(ReplicaDisconnected):
            await client.post("/predict", b"{}")
        server.mode = "ok"
        assert await client.post("/predict", b"{}") == (201, b"{}")
    assert server.connections == 2


async def test_a_cancelled_request_drops_its_connection() -> None:
    async with RawServer("hang") as server:
        client = ReplicaClient("127.0.0.1", server.port)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await client.post("/predict", b"{}")
        server.mode = "ok"
        assert await client.post("/predict", b"{}") == (201, b"{}")
    assert server.connections == 2  # the hung connection was not reused


@contextlib.asynccontextmanager
async def replica_app() -> AsyncIterator[int]:
    """The replica's real HTTP app (no-op engine) on uvicorn, in this process."""
    replica = ReplicaServer(
        NoopEngine("-", "feature-extraction"), max_concurrency=2, load_seconds={}
    )
    port = free_port()
    server = uvicorn.Server(server_config(replica.app(), "127.0.0.1", port, 1.0))
    task = asyncio.create_task(server.serve())
    for _ in range(1000):  # up to 10 s
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        await task
        replica.executor.shutdown(wait=False)


async def test_the_replica_app_answers_through_it() -> None:
    async with replica_app() as port:
        client = ReplicaClient("127.0.0.1", port)
        ok = await client.post("/predict", b'{"inputs": ["a", "b"]}')
        bad = await client.post("/predict", b'{"nope": 1}')
        broken = await client.post("/predict", b"{")
        client.close()

    assert ok == (200, b'["a","b"]')
    assert bad[0] == 422 and b'"field":"inputs"' in bad[1]
    assert broken[0] == 422 and b'"field":"body"' in broken[1]


async def test_the_router_retries_an_unreachable_replica_on_another_over_it() -> None:
    async with RawServer() as server:
        server.status = b"200 OK"
        suspects: list[str] = []
        router = Router(
            deployment_id="d1",
            model_name="m",
            scaling=Scaling(max_replicas=2, max_concurrency=2),
            on_suspect=suspects.append,
        )
        router.add_replica("dead", f"http://127.0.0.1:{free_port()}")  # picked first: no load yet
        router.add_replica("live", f"http://127.0.0.1:{server.port}")
        first = await router.forward(b'{"inputs": 1}')
        second = await router.forward(b'{"inputs": 2}')
        await router.aclose()

    assert (first, second) == (b'{"inputs": 1}', b'{"inputs": 2}')
    assert suspects == ["dead"] and router.ready_replicas == ["live"]
    assert server.connections == 1  # both requests on one kept-alive connection
