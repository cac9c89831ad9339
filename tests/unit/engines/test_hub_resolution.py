"""Hub resolution, task inference and snapshot validation, all offline on tiny models."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from serving import hub
from serving.hub import ModelResolutionError, ModelValidationError
from tests.support import tiny_models

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_cached_repo_resolves_to_its_snapshot(hf_home: Path, gpt2_path: Path) -> None:
    resolved = hub.resolve_snapshot("plinth-test/tiny-gpt2", None)
    assert Path(resolved.path) == gpt2_path
    assert resolved.revision == gpt2_path.name
    assert len(resolved.revision) == 40


def test_main_commit_and_commit_prefix_resolve_alike(hf_home: Path, gpt2_path: Path) -> None:
    commit = gpt2_path.name
    for revision in ("main", commit, commit[:10]):
        assert hub.resolve_snapshot("plinth-test/tiny-gpt2", revision).revision == commit


def test_missing_repo_offline_says_what_to_do(hf_home: Path) -> None:
    started = time.monotonic()
    with pytest.raises(ModelResolutionError) as caught:
        hub.resolve_snapshot("nobody/nothing", None)
    message = caught.value.message
    assert "'nobody/nothing' not found in the local cache" in message
    assert str(hf_home) in message
    assert "HF_HUB_OFFLINE=1" in message
    assert "plinth models import-local" in message
    assert time.monotonic() - started < 2


def test_uncached_revision_offline_lists_the_cached_ones(hf_home: Path, gpt2_path: Path) -> None:
    with pytest.raises(ModelResolutionError) as caught:
        hub.resolve_snapshot("plinth-test/tiny-gpt2", "v2.0")
    message = caught.value.message
    assert "revision 'v2.0' of repository 'plinth-test/tiny-gpt2' is not in" in message
    assert f"main -> {gpt2_path.name[:12]}" in message
    assert "HF_HUB_OFFLINE=1" in message


def test_bad_repo_id_is_refused(hf_home: Path) -> None:
    with pytest.raises(ModelResolutionError, match="not a Hugging Face repository id"):
        hub.resolve_snapshot("../etc/passwd", None)


def test_unreachable_hub_fails_fast_with_a_clear_error(tmp_path: Path) -> None:
    # A socket that accepts connections but never answers: the hub call must time out, not hang.
    # Runs in a fresh interpreter because huggingface_hub freezes HF_HUB_OFFLINE at import.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
        env.update(HF_HOME=str(tmp_path), HF_ENDPOINT=f"http://127.0.0.1:{port}")
        code = (
            "from serving.hub import resolve_snapshot, ModelResolutionError\n"
            "try:\n"
            "    resolve_snapshot('org/model', None, timeout_s=1.0)\n"
            "except ModelResolutionError as e:\n"
            "    print(e.message)\n"
        )
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        elapsed = time.monotonic() - started
    assert "could not get 'org/model'" in done.stdout, done.stderr
    assert f"127.0.0.1:{port}" in done.stdout
    assert "HF_HUB_OFFLINE=1" in done.stdout
    assert elapsed < 15


def test_import_local_minilm_builds_a_cache_entry(tmp_path: Path) -> None:
    snapshot = hub.import_local_minilm(tmp_path)
    repo = tmp_path / "hub" / "models--sentence-transformers--all-MiniLM-L6-v2"
    assert (repo / "refs" / "main").read_text() == snapshot.name
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "vocab.txt",
        "modules.json",
        "1_Pooling/config.json",
        "sentence_bert_config.json",
    ):
        link = snapshot / name
        assert link.is_symlink(), name
        assert link.resolve().parent == (repo / "blobs").resolve()
    assert hub.import_local_minilm(tmp_path) == snapshot  # idempotent, same commit
    assert len(list((repo / "snapshots").iterdir())) == 1


def test_imported_minilm_resolves_offline(hf_home: Path) -> None:
    snapshot = hub.import_local_minilm(hf_home)
    resolved = hub.resolve_snapshot(hub.MINILM_REPO_ID, None)
    assert Path(resolved.path) == snapshot
    assert hub.infer_task(resolved.path) == "feature-extraction"
    hub.validate_snapshot(resolved.path, "feature-extraction", "transformers")


def test_snapshot_without_config_resolves_but_has_no_task(hf_home: Path, tmp_path: Path) -> None:
    source = tmp_path / "model"
    source.mkdir()
    (source / "config.json").write_text("{}")
    snapshot = hub.register_folder(source, "plinth-test/partial", hf_home_dir=hf_home)
    (snapshot / "config.json").unlink()
    resolved = hub.resolve_snapshot("plinth-test/partial", None)  # no tree listing: returned
    assert hub.infer_task(resolved.path) is None


def test_infer_task(
    embedder_path: Path, bert_path: Path, classifier_path: Path, gpt2_path: Path, tmp_path: Path
) -> None:
    assert hub.infer_task(embedder_path) == "feature-extraction"
    assert hub.infer_task(bert_path) == "feature-extraction"
    assert hub.infer_task(classifier_path) == "text-classification"
    assert hub.infer_task(gpt2_path) == "text-generation"
    assert hub.infer_task(tmp_path) is None


def test_validate_accepts_matching_snapshots(
    embedder_path: Path, classifier_path: Path, gpt2_path: Path
) -> None:
    hub.validate_snapshot(embedder_path, "feature-extraction", "transformers")
    hub.validate_snapshot(classifier_path, "text-classification", "transformers")
    hub.validate_snapshot(gpt2_path, "text-generation", "transformers")
    hub.validate_snapshot(gpt2_path, "feature-extraction", "transformers")


def test_validate_refuses_mismatches(bert_path: Path, gpt2_path: Path, tmp_path: Path) -> None:
    with pytest.raises(
        ModelValidationError, match="architecture BertModel cannot do text-generation"
    ):
        hub.validate_snapshot(bert_path, "text-generation", "transformers")
    with pytest.raises(ModelValidationError, match="GPT2LMHeadModel cannot do text-classification"):
        hub.validate_snapshot(gpt2_path, "text-classification", "transformers")
    with pytest.raises(
        ModelValidationError, match=r"task 'translation' not supported by engine 'transformers'"
    ):
        hub.validate_snapshot(gpt2_path, "translation", "transformers")
    with pytest.raises(ModelValidationError, match="engine 'vllm' is not supported"):
        hub.validate_snapshot(gpt2_path, "text-generation", "vllm")
    with pytest.raises(ModelValidationError, match=r"snapshot has no config\.json"):
        hub.validate_snapshot(tmp_path, "text-generation", "transformers")
    with pytest.raises(ModelValidationError, match="does not exist"):
        hub.validate_snapshot(tmp_path / "missing", "text-generation", "transformers")


def test_validate_refuses_missing_weights_and_unknown_st_modules(
    bert_path: Path, embedder_path: Path, tmp_path: Path
) -> None:
    no_weights = tmp_path / "no-weights"
    shutil.copytree(bert_path, no_weights)
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(ModelValidationError, match="snapshot has no weights"):
        hub.validate_snapshot(no_weights, "feature-extraction", "transformers")

    dense = tmp_path / "dense"
    shutil.copytree(embedder_path, dense)
    modules = json.loads((dense / "modules.json").read_text())
    modules.append(
        {"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"}
    )
    (dense / "modules.json").unlink()  # a symlink into blobs: replace, never write through
    (dense / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ModelValidationError, match="module 'Dense' is not supported"):
        hub.validate_snapshot(dense, "feature-extraction", "transformers")


def test_tiny_builders_are_fast_and_deterministic(tmp_path: Path) -> None:
    for build in (
        tiny_models.build_tiny_gpt2,
        tiny_models.build_tiny_bert_classifier,
        tiny_models.build_tiny_sentence_embedder,
    ):
        started = time.monotonic()
        first = build(tmp_path / "a")
        assert time.monotonic() - started < 2.0, build.__name__
        assert build(tmp_path / "b").name == first.name  # same bytes, same commit
