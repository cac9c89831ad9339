"""Text classification on a tiny three-label BERT classifier."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from serving.engines import Engine, InvalidInput, get_engine
from tests.support.tiny_models import CLASSIFIER_LABELS


@pytest.fixture(scope="module")
def classifier(classifier_path: Path) -> Engine:
    engine = get_engine("transformers", "text-classification", classifier_path)
    engine.load()
    return engine


def test_every_label_is_scored_and_scores_sum_to_one(classifier: Engine) -> None:
    result = classifier.predict({"inputs": ["a good movie", "an awful film"]})
    assert len(result) == 2
    for ranking in result:
        assert {item["label"] for item in ranking} == set(CLASSIFIER_LABELS)
        scores = [item["score"] for item in ranking]
        assert sum(scores) == pytest.approx(1.0, abs=1e-5)
        assert scores == sorted(scores, reverse=True)


def test_single_string_gives_one_ranking(classifier: Engine) -> None:
    assert len(classifier.predict({"inputs": "good"})) == 1


def test_top_k_keeps_the_best_labels(classifier: Engine) -> None:
    full = classifier.predict({"inputs": "happy"})[0]
    [best] = classifier.predict({"inputs": "happy", "parameters": {"top_k": 1}})
    assert best == full[:1]


@pytest.mark.parametrize(
    "parameters",
    [{"top_k": 0}, {"top_k": 4}, {"top_k": "2"}, {"top_k": True}, {"function_to_apply": "relu"}],
)
def test_bad_parameters_are_invalid_input(classifier: Engine, parameters: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as caught:
        classifier.predict({"inputs": "x", "parameters": parameters})
    assert caught.value.field == f"parameters.{next(iter(parameters))}"
