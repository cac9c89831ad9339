"""Shared fixtures: real PostgreSQL/Redis when present (loud skip otherwise, failure under CI),
and a Hugging Face cache of tiny models built offline."""

from __future__ import annotations

import os
import socket
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

POSTGRES_URL = os.environ.get(
    "PLINTH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("PLINTH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, port: int) -> None:
    """Skip loudly when a real service is absent; under CI=true that is a failure."""
    if _reachable(port):
        return
    message = f"!!! {name} is not reachable on 127.0.0.1:{port}: skipping tests that need it"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is required under CI=true but is not reachable on 127.0.0.1:{port}")
    print(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    require_service("PostgreSQL", 5432)
    return POSTGRES_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    require_service("Redis", 6379)
    return REDIS_URL


@pytest.fixture(scope="session")
def tiny_hf_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An HF_HOME with a tiny classifier, generator and embedder, plus the real MiniLM."""
    from tests.support import tiny_models

    home = tmp_path_factory.mktemp("hf_home")
    with warnings.catch_warnings():
        tiny_models.build_tiny_bert_classifier(home, "plinth-test/tiny-classifier")
        tiny_models.build_tiny_gpt2(home, "plinth-test/tiny-gpt2")
        tiny_models.build_tiny_sentence_embedder(home, "plinth-test/tiny-embedder")
    yield home
