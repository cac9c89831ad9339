"""`client.models.logs` and `plinth logs NAME [-n N] [-f]` against a fake /graphql."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from plinth import Client, cli

BASE_URL = "http://plinth.test"


class FakeLogs:
    """Answers ReplicaLogs with the next scripted tail; then raises KeyboardInterrupt (Ctrl-C)."""

    def __init__(self, *tails: list[tuple[str, str]]) -> None:
        self.tails: Iterator[list[tuple[str, str]]] = iter(tails)
        self.variables: list[dict[str, Any]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert "replicaLogs" in body["query"]
        self.variables.append(body["variables"])
        try:
            tail = next(self.tails)
        except StopIteration:
            raise KeyboardInterrupt from None
        lines = [{"replicaId": r, "at": None, "line": line} for r, line in tail]
        return httpx.Response(200, json={"data": {"replicaLogs": lines}})

    def client_factory(self, *, base_url: str | None, api_key: str | None) -> Client:
        transport = httpx.MockTransport(self.handle)
        return Client(base_url=base_url or BASE_URL, api_key=api_key, transport=transport)


def test_client_returns_the_lines_in_order() -> None:
    fake = FakeLogs([("r1", "loading"), ("r1", "ready")])
    with fake.client_factory(base_url=None, api_key="k") as client:
        lines = client.models.logs("minilm", tail=5)
    assert [(x.replica_id, x.line, x.at) for x in lines] == [
        ("r1", "loading", None),
        ("r1", "ready", None),
    ]
    assert fake.variables == [{"model": "minilm", "tail": 5}]


def test_cli_prints_the_tail(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeLogs([("r1", "loading"), ("r2", "ready")])
    code = cli.main(["logs", "minilm", "-n", "2"], client_factory=fake.client_factory)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.splitlines() == ["[r1] loading", "[r2] ready"]
    assert fake.variables[0]["tail"] == 2


def test_cli_follow_prints_only_new_lines(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeLogs(
        [("r1", "a"), ("r1", "b")],
        [("r1", "a"), ("r1", "b"), ("r1", "c"), ("r2", "x")],
        [("r1", "b"), ("r1", "c"), ("r1", "d"), ("r2", "x")],
    )
    argv = ["logs", "minilm", "-f", "--poll-interval", "0"]
    code = cli.main(argv, client_factory=fake.client_factory)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.splitlines() == ["[r1] a", "[r1] b", "[r1] c", "[r2] x", "[r1] d"]


def test_cli_rejects_a_negative_tail(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["logs", "minilm", "-n", "-1"], client_factory=FakeLogs().client_factory)
    assert code == 2
    assert "-n must be 0 or more" in capsys.readouterr().err
