"""Secrets: encrypted at rest, write-only through the API, never logged, handed to replicas."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from backend import services
from backend.db.session import session_scope
from backend.secrets import SecretBox, SecretKeyError, SecretKeyMismatch, load_secret_box
from backend.settings import Settings
from tests.unit.auth.support import auth_app

VALUE = "hf_SUPERSECRETvalue_4242"


def test_set_secret_is_encrypted_at_rest_and_never_answered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with auth_app(tmp_path) as env:
        answer = env.gql(
            "admin",
            'mutation($v: String!) { setSecret(name: "HF_TOKEN", value: $v) '
            "{ __typename ... on Secret { name } } }",
            v=VALUE,
        )
        listed = env.gql("admin", "{ secrets { name createdAt updatedAt } }")
        deployed = env.gql(
            "deploy",
            'mutation { deployModel(input: {name: "gated", huggingFaceRepo: "org/gated", '
            'secrets: ["HF_TOKEN"]}) { ... on Deployment { id secrets } } }',
        )
        with session_scope(env.sessions) as session:
            specs_env = [
                spec.env for spec in services.desired_specs(session, box=SecretBox(_key(tmp_path)))
            ]
            reprs = repr(services.desired_specs(session, box=SecretBox(_key(tmp_path))))
        db_bytes = (tmp_path / "plinth.db").read_bytes()
        wal = tmp_path / "plinth.db-wal"
        wal_bytes = wal.read_bytes() if wal.exists() else b""

    assert answer.json()["data"]["setSecret"] == {"__typename": "Secret", "name": "HF_TOKEN"}
    assert listed.json()["data"]["secrets"][0]["name"] == "HF_TOKEN"
    assert deployed.json()["data"]["deployModel"]["secrets"] == ["HF_TOKEN"]
    assert specs_env == []  # PENDING deployments have no replicas yet
    for text in (answer.text, listed.text, deployed.text, caplog.text, reprs):
        assert VALUE not in text
    assert VALUE.encode() not in db_bytes + wal_bytes


def _key(home: Path) -> bytes:
    return (home / "secret.key").read_bytes().strip()


def test_replicas_get_the_secrets_their_deployment_names(tmp_path: Path) -> None:
    with auth_app(tmp_path) as env:
        box = SecretBox(_key(tmp_path))
        with session_scope(env.sessions) as session:
            services.set_secret(session, box=box, name="HF_TOKEN", value=VALUE)
            services.set_secret(session, box=box, name="OTHER", value="unrelated")
            row = services.create_deployment(
                session, name="gated", hf_repo="org/gated", secret_names=["HF_TOKEN"]
            )
            services.set_resolution(
                session,
                deployment_id=row.id,
                resolved_revision="abc",
                model_path="/m",
                task="feature-extraction",
            )
            services.activate_deployment(session, deployment_id=row.id)
        with session_scope(env.sessions) as session:
            (spec,) = services.desired_specs(session, box=box)

    assert dict(spec.env) == {"HF_TOKEN": VALUE}
    assert VALUE not in repr(spec)


def test_deploying_with_an_unknown_secret_is_a_validation_error(tmp_path: Path) -> None:
    with auth_app(tmp_path) as env:
        result = env.gql(
            "deploy",
            'mutation { deployModel(input: {name: "m", huggingFaceRepo: "org/m", '
            'secrets: ["MISSING"]}) { ... on ValidationError { field message } } }',
        ).json()["data"]["deployModel"]

    assert result["field"] == "secrets"
    assert "MISSING" in result["message"] and "plinth secrets set" in result["message"]


@pytest.mark.parametrize("name", ["1ABC", "HF-TOKEN", "", "A" * 129])
def test_bad_secret_names_are_refused(tmp_path: Path, name: str) -> None:
    with auth_app(tmp_path) as env:
        result = env.gql(
            "admin",
            'mutation($n: String!) { setSecret(name: $n, value: "v") '
            "{ ... on ValidationError { field } } }",
            n=name,
        ).json()["data"]["setSecret"]
    assert result == {"field": "name"}


def test_the_local_key_file_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)

    box = load_secret_box(settings)
    again = load_secret_box(settings)

    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600
    assert again.decrypt(box.encrypt("x")) == "x"


def test_a_public_bind_needs_an_explicit_key(tmp_path: Path) -> None:
    with pytest.raises(SecretKeyError, match="PLINTH_SECRET_KEY"):
        load_secret_box(Settings(home=tmp_path, host="0.0.0.0"))
    key = Fernet.generate_key().decode()
    box = load_secret_box(Settings(home=tmp_path, host="0.0.0.0", secret_key=key))
    assert box.decrypt(box.encrypt("v")) == "v"
    with pytest.raises(SecretKeyError, match="not a Fernet key"):
        load_secret_box(Settings(home=tmp_path, secret_key="short"))


def test_a_secret_written_under_another_key_fails_clearly() -> None:
    token = SecretBox(Fernet.generate_key()).encrypt("v")
    with pytest.raises(SecretKeyMismatch, match="PLINTH_SECRET_KEY"):
        SecretBox(Fernet.generate_key()).decrypt(token)
