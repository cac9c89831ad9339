"""The transformers engine: feature-extraction, text-classification, text-generation on CPU/GPU.

Building an engine imports nothing heavy; `load()` imports torch and transformers, loads the
snapshot once, runs one warm-up forward pass and reports the seconds of each phase
(`imports`, `weights`, `warmup`). `predict` is thread-safe: tokenizers are guarded by a lock (the
Rust tokenizer refuses concurrent mutation of its padding/truncation state), forward passes run
under `torch.inference_mode()` without a lock. A request's texts go through the model together,
in chunks of `BATCH_SIZE`. `predict_batch` answers several requests at once for the replica's
dynamic batcher (`serving.engines.batching`); text generation also streams
(`prepare_stream`, `serving.engines.streaming`).

Outputs follow the contract (see CONTRACT "Replica process"):
- feature-extraction: {"embeddings": [[float, ...], ...]} (plus "token_counts": [int, ...], the
  tokens each input used, with `return_token_counts`), pooled and normalised exactly as the
  snapshot's sentence-transformers config says (see `st_config`), truncated to its
  max_seq_length (else the tokenizer's model_max_length capped by the position embeddings);
- text-classification: [[{"label", "score"}, ...]] per input, sorted by score, `top_k` limits;
  softmax, or sigmoid for multi-label models;
- text-generation: [{"generated_text": str}] per input (`max_new_tokens` <= 512, `temperature`,
  `top_p`, `top_k`, `do_sample`, `return_full_text`, `stop`: up to 4 strings that end the
  generation, kept at the end of the text).

Torch uses PLINTH_TORCH_THREADS intra-op threads (default: the CPUs this process may run on),
set in `load()`, i.e. in the replica itself, never in a fork server.

Fork servers (`serving.forkserver`) call `preload_libraries()` once and `engine.preload()` per
model they may fork for: both only import modules, fill pure-Python caches and ask the kernel to
read weight files ahead. They run no torch operation and start no thread, so that a process
forked afterwards inherits no OpenMP pool, no tokenizer thread pool and no lock held by a thread
that does not exist in the child.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.engines.base import (
    EngineError,
    EngineLoadError,
    InvalidInput,
    UnsupportedModel,
    bool_parameter,
    float_parameter,
    int_parameter,
    parse_inputs,
    parse_parameters,
)
from serving.engines.st_config import EmbeddingConfig, read_embedding_config
from serving.engines.streaming import StreamJob, TokenStreamer

if TYPE_CHECKING:
    import torch

BATCH_SIZE = 64
MAX_NEW_TOKENS_CAP = 512
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "vocab.json",
    "tokenizer.model",
    "spiece.model",
)


def torch_threads() -> int:
    """Intra-op threads for torch: PLINTH_TORCH_THREADS, else the CPUs available to us."""
    raw = os.environ.get("PLINTH_TORCH_THREADS", "").strip()
    if not raw:
        return max(1, len(os.sched_getaffinity(0)))
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise EngineLoadError(f"PLINTH_TORCH_THREADS must be a positive integer, got {raw!r}")
    return value


# Modules every load imports whatever the model: the base classes and generation.
_COMMON_MODULES = (
    "transformers.modeling_utils",
    "transformers.modeling_layers",
    "transformers.generation.utils",
    "transformers.tokenization_utils_base",
)
_AUTO_CLASSES = (
    "AutoConfig",
    "AutoTokenizer",
    "AutoModel",
    "AutoModelForCausalLM",
    "AutoModelForSequenceClassification",
)


MAX_STOP_STRINGS = 4
MAX_STOP_LENGTH = 64


def stop_parameter(params: Mapping[str, Any]) -> list[str]:
    """`stop`: one string or up to four non-empty strings (at most 64 characters each)."""
    value = params.get("stop")
    if value is None:
        return []
    stops = [value] if isinstance(value, str) else value
    if (
        not isinstance(stops, list)
        or len(stops) > MAX_STOP_STRINGS
        or not all(isinstance(s, str) and 0 < len(s) <= MAX_STOP_LENGTH for s in stops)
    ):
        raise InvalidInput(
            f"'stop' must be a string or a list of at most {MAX_STOP_STRINGS} non-empty strings "
            f"of at most {MAX_STOP_LENGTH} characters",
            "parameters.stop",
        )
    return list(stops)


def preload_libraries() -> None:
    """Import torch, transformers and what every load needs; run no torch op, start no thread."""
    import torch  # noqa: F401  (imported for its side effect: the module is now loaded)
    import transformers

    for module in _COMMON_MODULES:
        importlib.import_module(module)
    for name in _AUTO_CLASSES:
        getattr(transformers, name)
    # transformers 5 compiles about a thousand weight-renaming regexes on the first
    # from_pretrained (0.2 s here) and caches them at module level: build them once now.
    try:
        mapping: Any = importlib.import_module("transformers.conversion_mapping")
        mapping.get_checkpoint_conversion_mapping("bert")
    except (ImportError, AttributeError):  # another transformers version: nothing to warm
        pass


def read_model_config(model_dir: Path) -> dict[str, Any]:
    config_file = model_dir / "config.json"
    if not config_file.is_file():
        raise UnsupportedModel(f"snapshot has no config.json ({model_dir})")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UnsupportedModel(f"config.json is not valid JSON: {error}") from error
    if not isinstance(config, dict):
        raise UnsupportedModel("config.json must be a JSON object")
    return config


def advise_page_cache(path: Path) -> None:
    """Ask the kernel to read a file into the page cache in the background (no thread here)."""
    if not path.is_file() or not hasattr(os, "posix_fadvise"):
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
    finally:
        os.close(fd)


def architecture_can(architecture: str, task: str) -> bool:
    """Whether a transformers architecture name can serve a task (by naming convention)."""
    if task == "text-generation":
        return architecture.endswith(("ForCausalLM", "LMHeadModel"))
    if task == "text-classification":
        return architecture.endswith("ForSequenceClassification")
    # Feature extraction runs the base model of any encoder or decoder checkpoint.
    return not architecture.endswith(("ForConditionalGeneration", "ForSeq2SeqLM"))


class TransformersEngine:
    """Shared loading and request handling; subclasses implement one task."""

    task = ""
    parameters: frozenset[str] = frozenset()

    def __init__(self, model_path: str | Path) -> None:
        self.model_path = Path(model_path)
        self._tokenizer_lock = threading.Lock()
        self._loaded = False
        self._torch: Any = None
        self._tokenizer: Any = None
        self._model: Any = None

    # -- deploy-time validation -------------------------------------------------------------

    def model_dir(self) -> Path:
        return self.model_path

    def check(self) -> None:
        if not self.model_path.is_dir():
            raise UnsupportedModel(f"snapshot folder {self.model_path} does not exist")
        model_dir = self.model_dir()
        config = read_model_config(model_dir)
        architectures = config.get("architectures") or []
        if not architectures and self.task != "feature-extraction":
            raise UnsupportedModel(
                f"config.json names no architectures, so it cannot be served for {self.task}"
            )
        for architecture in architectures:
            if not architecture_can(str(architecture), self.task):
                raise UnsupportedModel(f"architecture {architecture} cannot do {self.task}")
        if not any((model_dir / name).is_file() for name in WEIGHT_FILES):
            raise UnsupportedModel(
                f"snapshot has no weights (expected one of: {', '.join(WEIGHT_FILES)})"
            )
        if not any((model_dir / name).is_file() for name in TOKENIZER_FILES):
            raise UnsupportedModel("snapshot has no tokenizer files")

    # -- fork-server preparation ------------------------------------------------------------

    def preload(self) -> None:
        """Import this model's modeling and tokenizer modules; read its weights ahead."""
        import transformers

        model_dir = self.model_dir()
        config = read_model_config(model_dir)
        names = [str(a) for a in config.get("architectures") or []]
        try:
            tokenizer_config = json.loads((model_dir / "tokenizer_config.json").read_text())
            names.append(str(tokenizer_config.get("tokenizer_class") or ""))
        except (OSError, ValueError, AttributeError):
            pass
        for name in filter(None, names):
            getattr(transformers, name, None)  # the lazy module imports the defining module
        for name in WEIGHT_FILES:
            advise_page_cache(model_dir / name)

    # -- loading ----------------------------------------------------------------------------

    def load(self) -> dict[str, float]:
        if self._loaded:
            raise EngineError("engine already loaded; load() runs once per replica")
        start = time.perf_counter()
        import torch
        import transformers

        # Model classes import lazily; pulling in their shared base here keeps "weights" honest.
        importlib.import_module("transformers.modeling_utils")
        torch.set_num_threads(torch_threads())
        imported = time.perf_counter()
        try:
            self._torch = torch
            self._load_model(transformers)
            self._model.eval()
        except EngineError:
            raise
        except Exception as error:  # any loader failure is a load error with its reason
            raise EngineLoadError(f"{type(error).__name__}: {error}") from error
        loaded = time.perf_counter()
        self._loaded = True
        self.predict(self._warmup_payload())
        warmed = time.perf_counter()
        return {
            "imports": round(imported - start, 4),
            "weights": round(loaded - imported, 4),
            "warmup": round(warmed - loaded, 4),
        }

    def _load_model(self, transformers: Any) -> None:
        raise NotImplementedError

    def _warmup_payload(self) -> dict[str, Any]:
        return {"inputs": ["warm up"]}

    # -- requests ---------------------------------------------------------------------------

    def predict(self, payload: Mapping[str, Any]) -> Any:
        if not self._loaded:
            raise EngineError("model is not loaded")
        texts = parse_inputs(payload, allow_empty_strings=self.task != "text-generation")
        params = parse_parameters(payload, self.parameters)
        with self._torch.inference_mode():
            return self._predict(texts, params)

    def _predict(self, texts: list[str], params: dict[str, Any]) -> Any:
        raise NotImplementedError

    def predict_batch(self, payloads: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Answer several requests with as few forward passes as possible (dynamic batching,
        `serving.engines.batching`): one entry per payload, its result or the exception it
        raised. Requests with the same parameters share forward passes; when a shared pass
        fails, its requests run one by one so that one bad request fails only itself."""
        if not self._loaded:
            error = EngineError("model is not loaded")
            return [error] * len(payloads)
        results: list[Any] = [None] * len(payloads)
        groups: dict[str, list[tuple[int, list[str], dict[str, Any]]]] = {}
        for index, payload in enumerate(payloads):
            try:
                texts = parse_inputs(payload, allow_empty_strings=self.task != "text-generation")
                params = parse_parameters(payload, self.parameters)
            except InvalidInput as error:
                results[index] = error
                continue
            key = json.dumps(params, sort_keys=True, default=repr)
            groups.setdefault(key, []).append((index, texts, params))
        with self._torch.inference_mode():
            for members in groups.values():
                if len(members) > 1:
                    try:
                        merged = self._predict(
                            [t for _, texts, _ in members for t in texts], members[0][2]
                        )
                    except Exception:  # isolate the culprit: each request alone below
                        pass
                    else:
                        parts = self._split(merged, [len(texts) for _, texts, _ in members])
                        for (index, _, _), part in zip(members, parts, strict=True):
                            results[index] = part
                        continue
                for index, texts, params in members:
                    try:
                        results[index] = self._predict(texts, params)
                    except Exception as error:
                        results[index] = error
        return results

    def _split(self, merged: Any, counts: list[int]) -> list[Any]:
        """Cut the answer to concatenated inputs into one answer per request."""
        parts: list[Any] = []
        start = 0
        for count in counts:
            parts.append(merged[start : start + count])
            start += count
        return parts

    def _max_positions(self) -> int | None:
        value = getattr(self._model.config, "max_position_embeddings", None)
        return value if isinstance(value, int) and value > 0 else None

    def _truncation_length(self) -> int:
        length = int(self._tokenizer.model_max_length)
        positions = self._max_positions()
        return min(length, positions) if positions else length

    def _encode(self, texts: list[str], **kwargs: Any) -> dict[str, torch.Tensor]:
        with self._tokenizer_lock:
            encoded = self._tokenizer(texts, padding=True, return_tensors="pt", **kwargs)
        return dict(encoded)

    def _forward_inputs(self, encoded: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        # Tokenizers may return keys (token_type_ids) that a model's forward does not take.
        signature = inspect.signature(self._model.forward)
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
            return encoded
        return {key: value for key, value in encoded.items() if key in signature.parameters}


class FeatureExtractionEngine(TransformersEngine):
    task = "feature-extraction"
    parameters = frozenset({"normalize", "truncate", "return_token_counts"})

    def __init__(self, model_path: str | Path) -> None:
        super().__init__(model_path)
        self._config: EmbeddingConfig | None = None
        self._max_length = 512

    def model_dir(self) -> Path:
        return read_embedding_config(self.model_path).transformer_path

    def _load_model(self, transformers: Any) -> None:
        config = read_embedding_config(self.model_path)
        self._config = config
        self._tokenizer = transformers.AutoTokenizer.from_pretrained(config.transformer_path)
        self._model = transformers.AutoModel.from_pretrained(config.transformer_path)
        self._max_length = config.max_seq_length or self._truncation_length()

    def _predict(self, texts: list[str], params: dict[str, Any]) -> Any:
        assert self._config is not None
        normalize = bool_parameter(params, "normalize", default=self._config.normalize)
        truncate = bool_parameter(params, "truncate", default=True)
        counts = bool_parameter(params, "return_token_counts", default=False)
        token_counts: list[int] = []
        if self._config.do_lower_case:
            texts = [text.lower() for text in texts]
        embeddings: list[list[float]] = []
        for start in range(0, len(texts), BATCH_SIZE):
            chunk = texts[start : start + BATCH_SIZE]
            encoded = self._encode(chunk, truncation=True, max_length=self._max_length)
            if not truncate:
                self._refuse_truncation(chunk)
            if counts:
                token_counts.extend(int(n) for n in encoded["attention_mask"].sum(dim=1).tolist())
            tokens = self._model(**self._forward_inputs(encoded))[0]
            pooled = pool(self._torch, tokens, encoded["attention_mask"], self._config)
            if normalize:
                pooled = self._torch.nn.functional.normalize(pooled, p=2, dim=-1)
            embeddings.extend(pooled.float().tolist())
        if counts:
            return {"embeddings": embeddings, "token_counts": token_counts}
        return {"embeddings": embeddings}

    def _split(self, merged: Any, counts: list[int]) -> list[Any]:
        parts = [{"embeddings": part} for part in super()._split(merged["embeddings"], counts)]
        if "token_counts" in merged:
            for part, tokens in zip(
                parts, super()._split(merged["token_counts"], counts), strict=True
            ):
                part["token_counts"] = tokens
        return parts

    def _refuse_truncation(self, texts: list[str]) -> None:
        with self._tokenizer_lock:
            lengths = [len(ids) for ids in self._tokenizer(texts)["input_ids"]]
        for index, length in enumerate(lengths):
            if length > self._max_length:
                raise InvalidInput(
                    f"input is {length} tokens, longer than the model's {self._max_length}; "
                    "shorten it or allow truncation",
                    f"inputs[{index}]",
                )


def pool(
    torch_module: Any, tokens: torch.Tensor, mask: torch.Tensor, config: EmbeddingConfig
) -> torch.Tensor:
    """Pool token states (batch, seq, hidden) into sentence vectors like sentence-transformers."""
    th = torch_module
    weights = mask.unsqueeze(-1).to(th.float32)
    states = tokens.to(th.float32)
    vectors = []
    for mode in config.pooling_modes:
        if mode == "cls":
            first = mask.to(th.int64).argmax(dim=1)
            vectors.append(states[th.arange(states.shape[0]), first])
        elif mode == "max":
            vectors.append(states.masked_fill(weights == 0, float("-inf")).max(dim=1).values)
        elif mode in ("mean", "mean_sqrt_len_tokens"):
            counts = th.clamp(weights.sum(dim=1), min=1e-9)
            total = (states * weights).sum(dim=1)
            vectors.append(total / (counts if mode == "mean" else th.sqrt(counts)))
        elif mode == "weightedmean":
            positions = th.arange(1, states.shape[1] + 1, dtype=th.float32).view(1, -1, 1)
            pad_lengths = mask.to(th.int64).argmax(dim=1).view(-1, 1, 1)
            weighted = weights * (positions - pad_lengths)
            total = (states * weighted).sum(dim=1)
            vectors.append(total / th.clamp(weighted.sum(dim=1), min=1e-9))
        else:  # lasttoken: the last attended position of each row (left or right padding)
            flipped = mask.flip(1).to(th.int64).argmax(dim=1)
            last = states.shape[1] - 1 - flipped
            vectors.append(states[th.arange(states.shape[0]), last])
    result: torch.Tensor = th.cat(vectors, dim=-1) if len(vectors) > 1 else vectors[0]
    return result


class TextClassificationEngine(TransformersEngine):
    task = "text-classification"
    parameters = frozenset({"top_k", "function_to_apply"})

    def _load_model(self, transformers: Any) -> None:
        self._tokenizer = transformers.AutoTokenizer.from_pretrained(self.model_path)
        self._model = transformers.AutoModelForSequenceClassification.from_pretrained(
            self.model_path
        )
        self._max_length = self._truncation_length()

    def _predict(self, texts: list[str], params: dict[str, Any]) -> Any:
        config = self._model.config
        labels: dict[int, str] = {int(k): str(v) for k, v in config.id2label.items()}
        top_k = int_parameter(params, "top_k", default=None, low=1, high=max(1, len(labels)))
        default_fn = "sigmoid" if config.problem_type == "multi_label_classification" else "softmax"
        function = params.get("function_to_apply", default_fn)
        if function not in ("softmax", "sigmoid", "none"):
            raise InvalidInput(
                "'function_to_apply' must be 'softmax', 'sigmoid' or 'none'",
                "parameters.function_to_apply",
            )
        results: list[list[dict[str, Any]]] = []
        for start in range(0, len(texts), BATCH_SIZE):
            chunk = texts[start : start + BATCH_SIZE]
            encoded = self._encode(chunk, truncation=True, max_length=self._max_length)
            logits = self._model(**self._forward_inputs(encoded)).logits.to(self._torch.float32)
            if function == "softmax":
                scores = logits.softmax(dim=-1)
            elif function == "sigmoid":
                scores = logits.sigmoid()
            else:
                scores = logits
            for row in scores.tolist():
                ranked = sorted(
                    ({"label": labels.get(i, f"LABEL_{i}"), "score": s} for i, s in enumerate(row)),
                    key=lambda item: -float(item["score"]),
                )
                results.append(ranked[:top_k] if top_k else ranked)
        return results


class TextGenerationEngine(TransformersEngine):
    task = "text-generation"
    parameters = frozenset(
        {
            "max_new_tokens",
            "temperature",
            "top_p",
            "top_k",
            "do_sample",
            "return_full_text",
            "stop",
        }
    )

    def _load_model(self, transformers: Any) -> None:
        tokenizer = transformers.AutoTokenizer.from_pretrained(self.model_path)
        tokenizer.padding_side = "left"  # decoder-only models continue from the right edge
        if tokenizer.pad_token is None:
            if tokenizer.eos_token is None:
                raise EngineLoadError("tokenizer has neither a pad nor an eos token")
            tokenizer.pad_token = tokenizer.eos_token
        self._tokenizer = tokenizer
        self._model = transformers.AutoModelForCausalLM.from_pretrained(self.model_path)

    def _warmup_payload(self) -> dict[str, Any]:
        return {"inputs": ["warm up"], "parameters": {"max_new_tokens": 1}}

    def _options(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """max_new_tokens and the keyword arguments of `generate` for these parameters."""
        max_new = int_parameter(
            params, "max_new_tokens", default=20, low=1, high=MAX_NEW_TOKENS_CAP
        )
        assert max_new is not None
        temperature = float_parameter(params, "temperature", low=0.0, high=100.0)
        top_p = float_parameter(params, "top_p", low=0.0, high=1.0)
        top_k = int_parameter(params, "top_k", default=None, low=1, high=1_000_000)
        sampling_asked = temperature is not None or top_p is not None or top_k is not None
        do_sample = bool_parameter(params, "do_sample", default=sampling_asked)
        options: dict[str, Any] = {
            "max_new_tokens": max_new,
            "do_sample": do_sample,
            "pad_token_id": self._tokenizer.pad_token_id,
        }
        if do_sample:  # sampling knobs without sampling make transformers warn
            knobs = {"temperature": temperature, "top_p": top_p, "top_k": top_k}
            options.update({key: value for key, value in knobs.items() if value is not None})
        stops = stop_parameter(params)
        if stops:  # generation ends right after one of them (it stays in the text)
            options.update(stop_strings=stops, tokenizer=self._tokenizer)
        return max_new, options

    def _predict(self, texts: list[str], params: dict[str, Any]) -> Any:
        max_new, options = self._options(params)
        full_text = bool_parameter(params, "return_full_text", default=True)
        results: list[dict[str, str]] = []
        for start in range(0, len(texts), BATCH_SIZE):
            chunk = texts[start : start + BATCH_SIZE]
            encoded = self._encode(chunk)
            self._check_context(encoded["attention_mask"], max_new, offset=start)
            output = self._model.generate(**self._forward_inputs(encoded), **options)
            new_tokens = output[:, encoded["input_ids"].shape[1] :]
            with self._tokenizer_lock:
                decoded = self._tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
            for prompt, text in zip(chunk, decoded, strict=True):
                results.append({"generated_text": prompt + text if full_text else text})
        return results

    def _check_context(self, mask: torch.Tensor, max_new: int, *, offset: int) -> None:
        limit = self._max_positions()
        if limit is None:
            return
        for index, length in enumerate(mask.sum(dim=1).tolist()):
            if length + max_new > limit:
                raise InvalidInput(
                    f"input is {length} tokens; with max_new_tokens={max_new} it exceeds the "
                    f"model's context of {limit} tokens",
                    f"inputs[{offset + index}]",
                )

    # -- streaming (serving.engines.streaming) ----------------------------------------------

    def prepare_stream(self, payload: Mapping[str, Any]) -> StreamJob:
        """Validate a streaming request: one prompt in "inputs", or chat "messages" rendered
        with the tokenizer's own chat template. Raises InvalidInput; nothing runs yet."""
        if not self._loaded:
            raise EngineError("model is not loaded")
        params = parse_parameters(payload, self.parameters)
        if "messages" in payload:
            prompt = self._chat_prompt(payload["messages"])
        else:
            texts = parse_inputs(payload)
            if len(texts) != 1:
                raise InvalidInput("a stream answers one prompt: send one string in 'inputs'")
            prompt = texts[0]
        max_new, options = self._options(params)
        encoded = self._encode([prompt])
        self._check_context(encoded["attention_mask"], max_new, offset=0)
        return StreamJob(self, encoded, options, max_new)

    def _chat_prompt(self, messages: Any) -> str:
        if not isinstance(messages, list) or not messages:
            raise InvalidInput("'messages' must be a non-empty list", "messages")
        for index, message in enumerate(messages):
            if not (
                isinstance(message, dict)
                and isinstance(message.get("role"), str)
                and isinstance(message.get("content"), str)
            ):
                raise InvalidInput(
                    "each message must be an object with string 'role' and 'content'",
                    f"messages[{index}]",
                )
        if not getattr(self._tokenizer, "chat_template", None):
            raise InvalidInput(
                "this model's tokenizer has no chat template; send a prompt instead", "messages"
            )
        with self._tokenizer_lock:
            prompt = self._tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
        return str(prompt)

    def generate_stream(
        self,
        encoded: dict[str, torch.Tensor],
        options: dict[str, Any],
        streamer: TokenStreamer,
    ) -> None:
        with self._torch.inference_mode():
            self._model.generate(**self._forward_inputs(encoded), **options, streamer=streamer)

    def decode(self, ids: list[int]) -> str:
        with self._tokenizer_lock:
            return str(self._tokenizer.decode(ids, skip_special_tokens=True))
