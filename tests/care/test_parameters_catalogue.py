"""The care parameters' defaults are POLICY.md's and the seed migration seeds exactly them."""

import importlib.util
from decimal import Decimal
from pathlib import Path

import pytest

from services.care.parameters.catalogue import PARAMETERS, VISIT_CATEGORIES, InvalidParameterValue, check_value, visit_interval_key


def test_policy_defaults() -> None:
    assert PARAMETERS["alert_ack_minutes"].default == Decimal(30)  # R-LB-3
    assert PARAMETERS["reassessment_working_days"].default == Decimal(10)  # R-TK-1
    assert PARAMETERS["centralized_rate_target"].default == Decimal("0.50")  # R-TK-3
    for category in VISIT_CATEGORIES:
        assert visit_interval_key(category) in PARAMETERS


def test_seed_migration_matches_the_catalogue() -> None:
    path = next(Path("services/care/migrations/versions").glob("*seed_policy_data.py"))
    spec = importlib.util.spec_from_file_location("care_seed", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    assert {k: Decimal(v) for k, v in module.PARAMETERS} == {k: d.default for k, d in PARAMETERS.items()}
    assert len(module.HOMES) == 5


@pytest.mark.parametrize(("key", "value"), [
    ("alert_ack_minutes", Decimal("0")), ("alert_ack_minutes", Decimal("2.5")),
    ("centralized_rate_target", Decimal("1.5")), ("supervision_period_months", Decimal("5")),
])
def test_invalid_values_are_refused(key: str, value: Decimal) -> None:
    with pytest.raises(InvalidParameterValue):
        check_value(PARAMETERS[key], value)


def test_values_are_normalised() -> None:
    assert check_value(PARAMETERS["alert_ack_minutes"], Decimal("45.0")) == Decimal(45)
    assert check_value(PARAMETERS["centralized_rate_target"], Decimal("0.6")) == Decimal("0.6000")
