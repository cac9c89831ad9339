"""Fixtures for engine and hub tests: an offline, temporary HF_HOME with tiny models in it.

Tiny models are built once per session into one HF_HOME; every test points HF_HOME at it with
HF_HUB_OFFLINE=1, so the real resolution code runs and nothing can reach a hub.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import tiny_models


@pytest.fixture(scope="session")
def session_hf_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hf-home")


@pytest.fixture
def hf_home(session_hf_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("HF_HOME", str(session_hf_home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    yield session_hf_home


@pytest.fixture(scope="session")
def embedder_path(session_hf_home: Path) -> Path:
    return tiny_models.build_tiny_sentence_embedder(session_hf_home)


@pytest.fixture(scope="session")
def bert_path(session_hf_home: Path) -> Path:
    return tiny_models.build_tiny_bert_encoder(session_hf_home)


@pytest.fixture(scope="session")
def classifier_path(session_hf_home: Path) -> Path:
    return tiny_models.build_tiny_bert_classifier(session_hf_home)


@pytest.fixture(scope="session")
def gpt2_path(session_hf_home: Path) -> Path:
    return tiny_models.build_tiny_gpt2(session_hf_home)
