"""Payment-run rules (R-DS-2/3): verdict order, state machine, bank-file conventions."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.subsidy.housing import rules as housing
from services.subsidy.runs import rules

JUNE = date(2020, 6, 1)


def facts(**kw):
    base = {"benefit": "dibao", "month": JUNE, "amount": Decimal("100.00")}
    return rules.LineFacts(**(base | kw))


def test_payable_line():
    assert rules.line_verdict(facts()) is None


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"deceased_on": date(2020, 5, 31)}, "deceased"),
        ({"benefit_last_month": date(2020, 5, 1)}, "benefit_ended"),
        ({"benefit": "disability_living", "tekun": True}, "tekun"),
        ({"benefit": "disability_nursing", "work_injury_care_allowance": True}, "work_injury_care_allowance"),
        ({"benefit": "disability_living", "orphan_allowance": True}, "orphan_allowance"),
        ({"benefit": "disability_nursing", "orphan_allowance": True}, None),
        ({"benefit": "disability_living", "in_dibao": False}, "not_in_dibao"),
        ({"benefit": "disability_living", "benefit_last_month": date(2020, 5, 1), "in_dibao": False}, "not_in_dibao"),
        ({"over_age": True}, "over_age"),
        ({"paid_elsewhere": True}, "already_paid"),
        ({"earlier_in_run": True}, "duplicate"),
        ({"amount": Decimal("0.00")}, "nothing_due"),
        ({"bank_account": None}, "no_bank_account"),
        ({"deceased_on": date(2020, 6, 1)}, None),
    ],
)
def test_each_reason(kw, reason):
    assert rules.line_verdict(facts(**kw)) == reason


def test_first_reason_wins_in_catalogue_order():
    verdict = rules.line_verdict(facts(deceased_on=date(2020, 1, 1), paid_elsewhere=True, bank_account=None))
    assert verdict == "deceased"
    order = list(rules.DROP_REASONS)
    assert order.index("deceased") < order.index("already_paid") < order.index("duplicate") < order.index("no_bank_account")


@given(st.builds(
    rules.LineFacts, benefit=st.sampled_from(["dibao", "disability_living", "disability_nursing"]),
    month=st.just(JUNE), amount=st.decimals(min_value=0, max_value=1000, places=2),
    deceased_on=st.one_of(st.none(), st.dates(date(2020, 1, 1), date(2020, 12, 31))),
    tekun=st.booleans(), paid_elsewhere=st.booleans(), earlier_in_run=st.booleans(),
    bank_account=st.sampled_from([None, "", "622200"]),
))
def test_never_twice_and_never_to_the_dead(f):
    verdict = rules.line_verdict(f)
    assert verdict is None or verdict in rules.DROP_REASONS
    if verdict is None:
        assert not f.paid_elsewhere and not f.earlier_in_run and f.amount > 0 and f.bank_account
        assert f.deceased_on is None or f.deceased_on >= f.month


def test_state_machine():
    assert rules.check_transition("checked", "approved") is True
    assert rules.check_transition("approved", "approved") is False  # a repeat
    assert rules.check_transition("reconciled", "issued") is False
    with pytest.raises(rules.RunStateError) as err:
        rules.check_transition("created", "approved")
    assert err.value.code == "run_not_checked"
    with pytest.raises(rules.RunStateError) as err:
        rules.check_transition("checked", "issued")
    assert err.value.code == "run_not_approved"


@pytest.mark.parametrize(("name", "masked"), [("王小英", "王*英"), ("王英", "王*"), ("欧阳小英", "欧**英"), ("王", "*"), ("", ""), (None, "")])
def test_mask_name(name, masked):
    assert rules.mask_name(name) == masked


@given(st.integers(1, 10**12 - 1))
def test_references_round_trip(line_id):
    assert rules.parse_reference(rules.line_reference(line_id)) == line_id


@pytest.mark.parametrize("bad", ["", "QGS123", "XYZ000000000001", "QGS0000000000012", "qgs000000000001", None])
def test_foreign_references_are_not_ours(bad):
    assert rules.parse_reference(bad) is None


def test_control_line_and_groups():
    assert rules.control_line(3, Decimal("2160"), "2020-06-assistance") == "TOTAL,3,2160.00,2020-06-assistance"
    assert rules.group_of("price_subsidy") == "price" and rules.group_of("tekun_care") == "assistance"
    every = [b for benefits in rules.GROUPS.values() for b in benefits]
    assert len(every) == len(set(every))


def test_housing_milestones_in_order_and_tranches_add_up():
    housing.check_milestone("planned", "started")
    with pytest.raises(housing.MilestoneError) as err:
        housing.check_milestone("planned", "accepted")
    assert err.value.code == "milestone_out_of_order"
    with pytest.raises(housing.MilestoneError) as err:
        housing.check_milestone("accepted", "accepted")
    assert err.value.code == "project_complete"
    ratios = {"started": Decimal("0.30"), "structure_done": Decimal("0.40"), "accepted": Decimal("0.30")}
    parts = [housing.tranche_amount(subsidy=Decimal("33333.33"), ratios=ratios, milestone=m) for m in housing.PAID_MILESTONES]
    assert parts == [Decimal("10000.00"), Decimal("13333.33"), Decimal("10000.00")]


@given(st.decimals(min_value=Decimal("0.01"), max_value=10**7, places=2))
def test_tranches_always_add_up(subsidy):
    ratios = {"started": Decimal("0.30"), "structure_done": Decimal("0.40"), "accepted": Decimal("0.30")}
    parts = [housing.tranche_amount(subsidy=subsidy, ratios=ratios, milestone=m) for m in housing.PAID_MILESTONES]
    assert sum(parts) == subsidy and all(p >= 0 for p in parts)


def test_housing_kpi():
    kpi = housing.HousingKpi(accepted=40, target=50)
    assert (kpi.rate, kpi.met) == (Decimal("0.8000"), False)


@pytest.mark.parametrize(("name", "cell"), [
    ("王小英", "王*英"), ("=A1+1", "'=***1"), ("+86", "'+*6"), ("-王五", "'-*五"), ("@SUM(A1)", "'@******)"), ("=", "*"), (None, ""),
])
def test_bank_name(name, cell):
    assert rules.bank_name(name) == cell
