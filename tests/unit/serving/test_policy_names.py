"""The contract's list of autoscaling policies matches the policies the server has."""

import pytest

from plinth.types import AUTOSCALING_POLICIES, FieldError, Scaling
from serving.autoscaling import DEFAULT_POLICY, POLICY_NAMES


def test_contract_lists_every_policy() -> None:
    assert set(AUTOSCALING_POLICIES) == set(POLICY_NAMES)
    assert Scaling().autoscaling_policy == DEFAULT_POLICY


def test_unknown_policy_is_a_field_error() -> None:
    with pytest.raises(FieldError) as caught:
        Scaling(autoscaling_policy="magic").check()
    assert caught.value.field == "autoscalingPolicy"
    assert "knative_kpa" in caught.value.message
