"""The README's quick start, as a newcomer types it: import-local, deploy with the CLI, predict,
and get the same embedding sentence-transformers computes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.support.platform import PlatformProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BIN = Path(sys.executable).parent
TEXT = "Plinth serves models"


@pytest.fixture()
def platform(tmp_path: Path) -> Iterator[PlatformProcess]:
    hf_home = tmp_path / "hf"
    imported = subprocess.run(
        [str(BIN / "plinth"), "import-local", "--hf-home", str(hf_home)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    proc = PlatformProcess(tmp_path / "plinth", hf_home).start()
    try:
        yield proc
    finally:
        proc.stop()


def cli(
    platform: PlatformProcess, *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "plinth"), *args],
        env=platform.env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_quickstart_minilm_embedding_matches_sentence_transformers(
    platform: PlatformProcess,
) -> None:
    deployed = cli(
        platform,
        "deploy",
        "sentence-transformers/all-MiniLM-L6-v2",
        "--name",
        "minilm",
        "--min",
        "1",
        "--max",
        "3",
    )
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert "ACTIVE" in deployed.stdout

    predicted = cli(platform, "predict", "minilm", "--data", json.dumps({"inputs": [TEXT]}))
    assert predicted.returncode == 0, predicted.stderr
    embedding = np.array(json.loads(predicted.stdout)["embeddings"][0])
    assert embedding.shape == (384,)

    from sentence_transformers import SentenceTransformer

    model_dir = platform.hf_home / "hub" / "models--sentence-transformers--all-MiniLM-L6-v2"
    snapshot = next((model_dir / "snapshots").iterdir())
    reference = SentenceTransformer(str(snapshot), device="cpu").encode([TEXT])[0]
    cosine = float(embedding @ reference / (np.linalg.norm(embedding) * np.linalg.norm(reference)))
    assert cosine > 0.9999

    listed = cli(platform, "models")
    assert listed.returncode == 0 and "minilm" in listed.stdout

    failed = cli(platform, "deploy", "nobody/missing", "--name", "missing")
    assert failed.returncode != 0
    assert "not found in the local cache" in failed.stdout + failed.stderr
