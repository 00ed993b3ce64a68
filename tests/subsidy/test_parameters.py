"""The parameter catalogue: every default normalises, kinds validate, seed matches the catalogue."""

from datetime import date

import pytest

from services.subsidy.parameters.catalogue import SPECS, ParameterValueError, seed_rows, spec_of


def test_every_default_is_valid_and_versions_do_not_overlap():
    for spec in SPECS:
        ranges = sorted((d.valid_from, d.valid_to or date.max) for d in spec.defaults)
        for (a_from, a_to), (b_from, _) in zip(ranges, ranges[1:]):
            assert a_to < b_from, spec.key
        for d in spec.defaults:
            assert spec.normalise(d.value) == spec.normalise(spec.normalise(d.value))
        assert spec.rule.startswith("R-")


def test_policy_defaults():
    by = {(r["key"], r["valid_from"]): r["value"] for r in seed_rows()}
    assert by[("dibao_standard", date(2019, 1, 1))] == "600.00"
    assert by[("dibao_standard", date(2020, 1, 1))] == "720.00"
    assert by[("price_cpi_trigger", date(2019, 1, 1))] == "3.5"
    assert by[("price_multiplier", date(2020, 3, 1))] == "2"
    assert by[("housing_tranche_ratios", date(2019, 1, 1))] == {"started": "0.30", "structure_done": "0.40", "accepted": "0.30"}
    assert by[("gradual_exit_months", date(2019, 1, 1))] == 12
    assert by[("tekun_basic_factor", date(2019, 1, 1))] == "1.3"


def test_seed_migration_matches_the_catalogue():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "services/subsidy/migrations/versions/0002_seed_parameters.py"
    module_spec = importlib.util.spec_from_file_location("seed", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    seeded = {(k, f, t): v for k, f, t, v in module.DEFAULTS}
    assert seeded == {(r["key"], r["valid_from"], r["valid_to"]): r["value"] for r in seed_rows()}


@pytest.mark.parametrize(
    ("key", "value"),
    [("dibao_standard", "720.001"), ("dibao_standard", -1), ("dibao_standard", 1.5), ("gradual_exit_months", "12"),
     ("price_categories", ["dibao", "martians"]), ("price_categories", []), ("housing_tranche_ratios", {"started": "0.5"}),
     ("housing_tranche_ratios", {"started": "0.5", "structure_done": "0.5", "accepted": "0.5"}),
     ("price_cpi_trigger", "abc"), ("tekun_care_standard", {"self_care": "1", "partial_loss": "2"})],
)
def test_bad_values_are_refused(key, value):
    with pytest.raises(ParameterValueError):
        spec_of(key).normalise(value)
