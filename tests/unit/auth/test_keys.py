"""API keys: format, storage as a hash only, the in-memory cache, revocation, expiry, last use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, text

from backend import services
from backend.auth.cache import KeyCache, Unauthenticated
from backend.auth.keys import generate_key, key_prefix
from backend.auth.scopes import Access, Principal, parse_scopes
from backend.db.session import session_scope
from backend.errors import ValidationFailed
from plinth.types import FieldError
from tests.unit.auth.support import auth_app


def test_keys_have_a_visible_prefix_and_a_long_random_secret() -> None:
    first, second = generate_key(), generate_key()

    assert first.key.startswith(f"pl_{first.prefix}_")
    assert len(first.key.split("_", 2)[2]) >= 32
    assert key_prefix(first.key) == first.prefix
    assert first.key != second.key and first.key_hash != second.key_hash
    assert key_prefix("pl_short") is None and key_prefix("sk-" + "x" * 60) is None


@pytest.mark.parametrize(
    ("scopes", "expected"),
    [
        (["read", "invoke:minilm", "read"], ("invoke:minilm", "read")),
        ([" admin "], ("admin",)),
    ],
)
def test_scopes_are_validated_and_normalised(scopes: list[str], expected: tuple[str, ...]) -> None:
    assert parse_scopes(scopes) == expected


@pytest.mark.parametrize("bad", [[], ["root"], ["read:minilm"], ["invoke:Bad_Name"]])
def test_bad_scopes_are_refused(bad: list[str]) -> None:
    with pytest.raises(FieldError) as info:
        parse_scopes(bad)
    assert info.value.field == "scopes"


def test_invoke_on_one_model_does_not_allow_another_nor_reading() -> None:
    caller = Principal(key_id="k", prefix="abcdefgh", scopes=frozenset({"invoke:minilm"}))

    assert caller.allows(Access.INVOKE, "minilm")
    assert not caller.allows(Access.INVOKE, "other")
    assert not caller.allows(Access.READ)
    assert "lacks the scope 'invoke:other'" in caller.denial(Access.INVOKE, "other")


def test_the_database_holds_no_key_only_its_hash(tmp_path: Path) -> None:
    with auth_app(tmp_path) as env:
        with session_scope(env.sessions) as session:
            dump = "\n".join(
                str(row) for row in session.execute(text("SELECT * FROM api_keys")).all()
            )
        raw = (tmp_path / "plinth.db").read_bytes()
        for key in env.keys.values():
            if key is None:
                continue
            secret_part = key.split("_", 2)[2]
            assert secret_part not in dump
            assert secret_part.encode() not in raw


def test_a_key_revoked_here_is_refused_at_once_and_the_audit_log_says_who(tmp_path: Path) -> None:
    with auth_app(tmp_path) as env:
        created = env.gql(
            "admin",
            'mutation { createApiKey(input: {scopes: ["read"], name: "ci", '
            "expiresInSeconds: 3600}) "
            "{ ... on CreatedApiKey { key apiKey { id prefix scopes expiresAt } } } }",
        ).json()["data"]["createApiKey"]
        key, key_id = created["key"], created["apiKey"]["id"]
        assert created["apiKey"]["prefix"] == key[: len("pl_") + 8]
        assert created["apiKey"]["expiresAt"] is not None
        listed = env.gql("admin", "{ apiKeys { id prefix } }").json()["data"]["apiKeys"]
        assert key_id in [k["id"] for k in listed]
        assert key not in str(listed)  # only the prefix is ever shown again

        headers = {"Authorization": f"Bearer {key}"}
        ok = env.client.post("/graphql", json={"query": "{ models { name } }"}, headers=headers)
        assert ok.status_code == 200 and "errors" not in ok.json()

        env.gql("admin", f'mutation {{ revokeApiKey(id: "{key_id}") {{ __typename }} }}')
        refused = env.client.post(
            "/graphql", json={"query": "{ models { name } }"}, headers=headers
        )
        assert refused.status_code == 401
        assert "revoked" in refused.json()["error"]["message"]

        log = env.gql("admin", "{ auditLog { action target outcome keyPrefix } }").json()
        entries = log["data"]["auditLog"]
        admin_prefix = "pl_" + env.keys["admin"].split("_")[1]  # type: ignore[union-attr]
        assert entries[0] == {
            "action": "revokeApiKey",
            "target": key_id,
            "outcome": "ok",
            "keyPrefix": admin_prefix,
        }
        assert entries[1]["action"] == "createApiKey" and entries[1]["outcome"] == "ok"


def test_denied_and_failed_mutations_are_audited(tmp_path: Path) -> None:
    with auth_app(tmp_path) as env:
        env.gql("read", 'mutation { deleteModel(name: "x") { __typename } }')
        env.gql("deploy", 'mutation { deleteModel(name: "ghost") { __typename } }')
        env.gql(
            "deploy",
            'mutation { deployModel(input: {name: "Bad Name", huggingFaceRepo: "o/m"}) '
            "{ __typename } }",
        )

        entries = env.gql("admin", "{ auditLog { action target outcome } }").json()
        outcomes = [(e["action"], e["target"], e["outcome"]) for e in entries["data"]["auditLog"]]
        assert outcomes == [
            ("deployModel", "Bad Name", "invalid"),
            ("deleteModel", "ghost", "not_found"),
            ("deleteModel", "x", "denied"),
        ]


def test_cache_sees_keys_of_other_processes_after_a_reload(tmp_path: Path) -> None:
    with auth_app(tmp_path) as env:
        cache = KeyCache(env.sessions)
        cache.load()
        with session_scope(env.sessions) as session:
            _row, key = services.create_api_key(session, scopes=["read"])
        with pytest.raises(Unauthenticated):
            cache.authenticate(key)  # created "elsewhere": unknown until the next reload

        cache.load()

        assert cache.authenticate(key).scopes == frozenset({"read"})


def test_expiry_follows_the_clock_and_last_use_is_written_in_batches(tmp_path: Path) -> None:
    now = [datetime(2030, 1, 1, tzinfo=UTC)]
    with auth_app(tmp_path) as env:
        with session_scope(env.sessions) as session:
            row, key = services.create_api_key(
                session, scopes=["read"], expires_at=now[0] + timedelta(hours=1), now=now[0]
            )
        cache = KeyCache(env.sessions, clock=lambda: now[0])
        cache.load()
        cache.authenticate(key)
        with session_scope(env.sessions) as session:
            assert services.list_api_keys(session)[0].last_used_at is None  # not on the hot path

        cache.flush_last_used()
        now[0] += timedelta(hours=2)

        with session_scope(env.sessions) as session:
            stored = next(k for k in services.list_api_keys(session) if k.id == row.id)
            assert stored.last_used_at == datetime(2030, 1, 1, tzinfo=UTC)
        with pytest.raises(Unauthenticated, match="expired"):
            cache.authenticate(key)


def test_an_expiry_in_the_past_is_refused(tmp_path: Path) -> None:
    with (
        auth_app(tmp_path) as env,
        session_scope(env.sessions) as session,
        pytest.raises(ValidationFailed),
    ):
        services.create_api_key(
            session, scopes=["read"], expires_at=datetime.now(UTC) - timedelta(seconds=1)
        )


def test_predict_touches_no_database(tmp_path: Path) -> None:
    with auth_app(tmp_path) as env:
        statements: list[str] = []
        engine = env.sessions.kw["bind"]
        env.client.post(
            "/v1/models/minilm/predict", json={"inputs": "x"}, headers=env.headers("admin")
        )

        def record(*args: object) -> None:
            statements.append(str(args[2]))

        event.listen(engine, "before_cursor_execute", record)
        try:
            response = env.client.post(
                "/v1/models/minilm/predict",
                json={"inputs": "x"},
                headers=env.headers("invoke_this"),
            )
        finally:
            event.remove(engine, "before_cursor_execute", record)

        assert response.status_code == 200
        assert statements == []
