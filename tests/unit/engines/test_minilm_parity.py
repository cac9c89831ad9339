"""The transformers engine reproduces sentence-transformers on the real all-MiniLM-L6-v2."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving import hub
from serving.engines import get_engine

TEXTS = [
    "Plinth serves open-weights models.",
    "A cat sat on the mat.",
    "The quick brown fox jumps over the lazy dog. " * 40,  # beyond max_seq_length (256)
    "",
]


def test_embeddings_match_sentence_transformers(hf_home: Path) -> None:
    np = pytest.importorskip("numpy")
    sentence_transformers = pytest.importorskip("sentence_transformers")
    hub.import_local_minilm(hf_home)
    snapshot = hub.resolve_snapshot(hub.MINILM_REPO_ID, None)
    engine = get_engine("transformers", "feature-extraction", snapshot.path)
    engine.load()
    ours = np.array(engine.predict({"inputs": TEXTS})["embeddings"])
    reference = sentence_transformers.SentenceTransformer(snapshot.path, device="cpu").encode(TEXTS)
    assert ours.shape == reference.shape == (len(TEXTS), 384)
    cosine = (ours * reference).sum(axis=1) / (
        np.linalg.norm(ours, axis=1) * np.linalg.norm(reference, axis=1)
    )
    assert cosine.min() > 0.9999
