"""Tiny random models in the Hugging Face cache layout, built offline in well under 2 s each.

Each builder writes a seeded random model (hidden size 32, 2 layers, a small vocabulary) and its
tokenizer into a scratch folder, then registers it with `serving.hub.register_folder` under
`hf_home/hub/models--ORG--NAME/` with `refs/main`, so `serving.hub.resolve_snapshot` finds it
with HF_HUB_OFFLINE=1. Each returns the snapshot path. Tokenizers are made here, never fetched:
a WordPiece vocabulary for BERT, a byte-level BPE trained on a few sentences for GPT-2.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from serving.hub import register_folder

HIDDEN = 32
LAYERS = 2
HEADS = 2
SEED = 1234
CLASSIFIER_LABELS = ("negative", "neutral", "positive")

_WORDS = """
the a an is was be to of and in that it for on with as at by this from or not but what all were
when we there can more if no out so said up one about time them some could model movie film good
bad great awful cat dog sat mat hello world plinth serve fast slow happy sad love hate day night
text token replica
"""
_SUFFIXES = ("##s", "##ing", "##ed", "##er", "##ly")
_CORPUS = (
    "hello world, the cat sat on the mat.",
    "a good movie is a happy movie; a bad film is sad.",
    "plinth serves models fast: one replica, one model, many tokens.",
    "The quick brown fox jumps over the lazy dog 0123456789!",
)


def _bert_vocab() -> dict[str, int]:
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    digits = [str(d) for d in range(10)]
    punctuation = list(".,;:!?'\"()-")
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens += letters + digits + punctuation + ["##" + c for c in letters + digits]
    tokens += _WORDS.split() + list(_SUFFIXES)
    return {token: index for index, token in enumerate(dict.fromkeys(tokens))}


def _bert_tokenizer(max_length: int) -> Any:
    from transformers import BertTokenizer

    return BertTokenizer(vocab=_bert_vocab(), model_max_length=max_length)


def _bert_config(vocab_size: int, **extra: Any) -> Any:
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        intermediate_size=64,
        max_position_embeddings=128,
        **extra,
    )


def _register(hf_home: Path, repo_id: str, save: Any) -> Path:
    with tempfile.TemporaryDirectory(prefix="plinth-tiny-") as scratch:
        folder = Path(scratch)
        save(folder)
        return register_folder(folder, repo_id, hf_home_dir=hf_home)


def build_tiny_sentence_embedder(
    hf_home: Path, repo_id: str = "plinth-test/tiny-embedder", *, pooling: str = "mean"
) -> Path:
    """A BERT encoder with a sentence-transformers config: pooling + Normalize, max 24 tokens."""
    import torch
    from transformers import BertModel

    torch.manual_seed(SEED)
    tokenizer = _bert_tokenizer(max_length=128)
    model = BertModel(_bert_config(len(tokenizer)))

    def save(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        modules = [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ]
        _write_json(folder / "modules.json", modules)
        _write_json(
            folder / "sentence_bert_config.json", {"max_seq_length": 24, "do_lower_case": False}
        )
        _write_json(
            folder / "config_sentence_transformers.json",
            {"__version__": {"sentence_transformers": "3.0.0"}, "similarity_fn_name": "cosine"},
        )
        legacy = {f"pooling_mode_{key}": key_mode == pooling for key, key_mode in _POOLING_KEYS}
        _write_json(
            folder / "1_Pooling" / "config.json", {"word_embedding_dimension": HIDDEN, **legacy}
        )

    return _register(hf_home, repo_id, save)


_POOLING_KEYS = (
    ("cls_token", "cls"),
    ("mean_tokens", "mean"),
    ("max_tokens", "max"),
    ("mean_sqrt_len_tokens", "mean_sqrt_len_tokens"),
)


def build_tiny_bert_encoder(hf_home: Path, repo_id: str = "plinth-test/tiny-bert") -> Path:
    """A plain BERT encoder without sentence-transformers files (mean pooling, no normalise)."""
    import torch
    from transformers import BertModel

    torch.manual_seed(SEED)
    tokenizer = _bert_tokenizer(max_length=128)
    model = BertModel(_bert_config(len(tokenizer)))

    def save(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    return _register(hf_home, repo_id, save)


def build_tiny_bert_classifier(hf_home: Path, repo_id: str = "plinth-test/tiny-classifier") -> Path:
    """A BERT sequence classifier with three named labels."""
    import torch
    from transformers import BertForSequenceClassification

    torch.manual_seed(SEED)
    tokenizer = _bert_tokenizer(max_length=128)
    labels = dict(enumerate(CLASSIFIER_LABELS))
    config = _bert_config(
        len(tokenizer), id2label=labels, label2id={v: k for k, v in labels.items()}
    )
    model = BertForSequenceClassification(config)

    def save(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    return _register(hf_home, repo_id, save)


def build_tiny_failing_classifier(
    hf_home: Path, repo_id: str = "plinth-test/tiny-failing-classifier"
) -> Path:
    """A BERT classifier that loads and warms up, then fails on real inputs: its embedding table
    stops at the last token of the engine's warm-up text ("warm up"), so a text with a later
    word of the vocabulary (e.g. "hello world") indexes past it and the forward pass raises."""
    import torch
    from transformers import BertForSequenceClassification

    torch.manual_seed(SEED)
    tokenizer = _bert_tokenizer(max_length=128)
    vocab_size = max(tokenizer("warm up")["input_ids"]) + 1
    assert max(tokenizer("hello world")["input_ids"]) >= vocab_size
    labels = dict(enumerate(CLASSIFIER_LABELS))
    config = _bert_config(vocab_size, id2label=labels, label2id={v: k for k, v in labels.items()})
    model = BertForSequenceClassification(config)

    def save(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    return _register(hf_home, repo_id, save)


def _gpt2_tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(list(_CORPUS) * 4, trainer=trainer)
    state = json.loads(bpe.to_str())["model"]
    # The tokenizers backend wants (left, right) pairs, whatever transformers' annotation says.
    merges: Any = [tuple(m) if isinstance(m, list) else tuple(m.split()) for m in state["merges"]]
    return GPT2Tokenizer(vocab=state["vocab"], merges=merges, model_max_length=64)


# A minimal chat template in the Jinja dialect transformers renders (for /v1/chat/completions).
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)


def build_tiny_gpt2(
    hf_home: Path,
    repo_id: str = "plinth-test/tiny-gpt2",
    *,
    context: int = 64,
    hidden: int = HIDDEN,
    layers: int = LAYERS,
    endless: bool = False,
) -> Path:
    """A GPT-2 causal LM with a 64-token context, a byte-level BPE tokenizer and a chat
    template. A longer `context` and a bigger `hidden`/`layers` make generation slow enough to
    observe mid-stream (512 tokens of 256 hidden x 4 layers take seconds on one CPU thread);
    `endless` models have no end-of-sequence token, so they always generate max_new_tokens."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(SEED)
    tokenizer = _gpt2_tokenizer()
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.model_max_length = context
    eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=context,
        n_embd=hidden,
        n_layer=layers,
        n_head=HEADS,
        bos_token_id=None if endless else eos,
        eos_token_id=None if endless else eos,
    )
    model = GPT2LMHeadModel(config)

    def save(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    return _register(hf_home, repo_id, save)


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2), encoding="utf-8")
