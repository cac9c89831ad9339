"""Read a sentence-transformers model layout without importing sentence-transformers.

A sentence-transformers snapshot has `modules.json` listing a pipeline such as
Transformer -> Pooling -> Normalize. `read_embedding_config(path)` turns it into an
`EmbeddingConfig`: where the transformer weights live, which pooling modes to concatenate, whether
to L2-normalise, the maximum sequence length (`sentence_bert_config.json`) and lower-casing.
A plain transformers snapshot (no `modules.json`) gets mean pooling without normalisation, which
is what the contract promises. Modules we cannot reproduce (Dense, LayerNorm, ...) raise
UnsupportedModel rather than silently giving different vectors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving.engines.base import UnsupportedModel

POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")

# Legacy boolean keys of 1_Pooling/config.json, in the order sentence-transformers concatenates.
_LEGACY_POOLING_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
_IGNORED_MODULES = frozenset({"Dropout"})


@dataclass(frozen=True)
class EmbeddingConfig:
    transformer_path: Path
    pooling_modes: tuple[str, ...] = ("mean",)
    normalize: bool = False
    max_seq_length: int | None = None
    do_lower_case: bool = False
    sentence_transformers: bool = False


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UnsupportedModel(f"cannot read {path.name}: {error}") from error


def pooling_modes(config: dict[str, Any]) -> tuple[str, ...]:
    """Pooling modes from a 1_Pooling/config.json in the new or the legacy format."""
    mode = config.get("pooling_mode")
    modes: tuple[str, ...]
    if isinstance(mode, str):
        modes = (mode,)
    elif isinstance(mode, list):
        modes = tuple(str(m) for m in mode)
    else:
        modes = tuple(name for key, name in _LEGACY_POOLING_KEYS.items() if config.get(key))
    modes = modes or ("mean",)
    for name in modes:
        if name not in POOLING_MODES:
            raise UnsupportedModel(f"pooling mode {name!r} is not supported ({POOLING_MODES})")
    if config.get("include_prompt") is False:
        raise UnsupportedModel("pooling with include_prompt=false is not supported")
    return modes


def _module_kind(entry: dict[str, Any]) -> str:
    # "sentence_transformers.models.Pooling" and newer module paths both end in the class name.
    return str(entry.get("type", "")).rsplit(".", 1)[-1]


def read_embedding_config(model_path: str | Path) -> EmbeddingConfig:
    """Describe how to turn token states of the snapshot at model_path into embeddings."""
    root = Path(model_path)
    modules_file = root / "modules.json"
    if not modules_file.is_file():
        return EmbeddingConfig(transformer_path=root)
    modules = _read_json(modules_file)
    if not isinstance(modules, list) or not modules:
        raise UnsupportedModel("modules.json must be a non-empty list of modules")
    transformer_path: Path | None = None
    modes: tuple[str, ...] | None = None
    normalize = False
    max_seq_length: int | None = None
    do_lower_case = False
    for entry in sorted(modules, key=lambda item: int(item.get("idx", 0))):
        kind = _module_kind(entry)
        folder = root / str(entry.get("path", ""))
        if kind == "Transformer":
            transformer_path = folder
            bert_config_file = folder / "sentence_bert_config.json"
            if bert_config_file.is_file():
                bert_config = _read_json(bert_config_file)
                value = bert_config.get("max_seq_length")
                max_seq_length = int(value) if isinstance(value, int) else None
                do_lower_case = bool(bert_config.get("do_lower_case", False))
        elif kind == "Pooling":
            config_file = folder / "config.json"
            modes = pooling_modes(_read_json(config_file)) if config_file.is_file() else ("mean",)
        elif kind == "Normalize":
            normalize = True
        elif kind not in _IGNORED_MODULES:
            raise UnsupportedModel(
                f"sentence-transformers module {kind!r} is not supported by the transformers "
                "engine (supported: Transformer, Pooling, Normalize)"
            )
    if transformer_path is None:
        raise UnsupportedModel("modules.json has no Transformer module")
    return EmbeddingConfig(
        transformer_path=transformer_path,
        pooling_modes=modes or ("mean",),
        normalize=normalize,
        max_seq_length=max_seq_length,
        do_lower_case=do_lower_case,
        sentence_transformers=True,
    )
