"""Payment runs: pure rules (R-DS-2/3) — benefit groups, the cross-check's drop reasons and their
order, the run's state machine, bank-file conventions (masked names, references, control line).
No I/O. The set-based SQL in ``sql.py`` implements the same verdicts for a whole roster at once;
``line_verdict`` here is their reference definition (unit-tested, and compared with the SQL by the
end-to-end tests).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from shared.csvcells import safe_cell

# benefit group → the benefits (payment-line kinds) a run of that group pays.
GROUPS: dict[str, tuple[str, ...]] = {
    "assistance": ("dibao", "dibao_single_person", "tekun_basic", "tekun_care", "centralized_support_fee"),
    "disability": ("disability_living", "disability_nursing"),
    "children": ("orphan_institutional", "orphan_dispersed", "child_without_care"),
    "veterans": ("revolutionary_veteran",),
    "price": ("price_subsidy",),
    "housing": ("housing_started", "housing_structure_done", "housing_accepted"),
}
GROUP_RULES: dict[str, tuple[str, ...]] = {
    "assistance": ("R-DB-4", "R-DB-5", "R-DB-6", "R-TK-2", "R-TK-4"),
    "disability": ("R-DS-1", "R-DS-2", "R-DS-3"),
    "children": ("R-OR-1", "R-OR-2"),
    "veterans": ("R-OA-1",),
    "price": ("R-PS-1", "R-PS-2", "R-PS-3"),
    "housing": ("R-HS-1",),
}

# Drop reasons, in the order the cross-check applies them (the first that holds is reported).
DROP_REASONS: dict[str, tuple[str, str]] = {
    "deceased": ("R-DS-2", "the person died before the month paid"),
    "benefit_ended": ("R-DS-2", "the benefit ended before the month paid (no longer on the roster)"),
    "tekun": ("R-DS-2", "persons in tekun support get neither disability subsidy"),
    "work_injury_care_allowance": ("R-DS-2", "persons receiving the work-injury care allowance get neither disability subsidy"),
    "orphan_allowance": ("R-DS-2", "a child receiving the orphan or child-without-care allowance gets no living subsidy"),
    "not_in_dibao": ("R-DS-2", "the living subsidy is for members of dibao households"),
    "over_age": ("R-OR-1", "the allowance stops at 18 unless in high school or secondary vocational school"),
    "already_paid": ("R-DS-3", "the same person, benefit and month is already payable or paid in another run"),
    "duplicate": ("R-DS-3", "the same person, benefit and month appears twice in this run"),
    "nothing_due": ("R-OR-2", "nothing is due (the top-up is 0.00)"),
    "no_bank_account": ("R-DS-3", "no bank account to pay into"),
}

RUN_FLOW = ("created", "checked", "approved", "issued", "reconciled")
REFERENCE_PREFIX = "QGS"
_REFERENCE = re.compile(rf"{REFERENCE_PREFIX}(\d{{12}})")


class RunStateError(ValueError):
    """A step asked of a run in the wrong state; ``code`` names the state needed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def group_of(benefit: str) -> str:
    """The group whose runs pay ``benefit``; KeyError if none."""
    for group, benefits in GROUPS.items():
        if benefit in benefits:
            return group
    raise KeyError(benefit)


def check_transition(current: str, wanted: str) -> bool:
    """True when ``current`` may move to ``wanted`` (the next state of RUN_FLOW); False when the run
    is already there or beyond (the request is a harmless repeat); RunStateError when too early."""
    have, want = RUN_FLOW.index(current), RUN_FLOW.index(wanted)
    if have >= want:
        return False
    if have != want - 1:
        raise RunStateError(f"run_not_{RUN_FLOW[want - 1]}", f"the run is {current}; it must be {RUN_FLOW[want - 1]} first")
    return True


@dataclass(frozen=True)
class LineFacts:
    """What the cross-check knows about one candidate line (see :func:`line_verdict`)."""

    benefit: str
    month: date
    amount: Decimal
    deceased_on: date | None = None
    benefit_last_month: date | None = None
    tekun: bool = False
    work_injury_care_allowance: bool = False
    orphan_allowance: bool = False
    in_dibao: bool = True
    over_age: bool = False
    paid_elsewhere: bool = False
    earlier_in_run: bool = False
    bank_account: str | None = "x"


def line_verdict(facts: LineFacts) -> str | None:
    """R-DS-2/3: the drop reason of a candidate line, or None when it is payable.

    The comparison (数据比对) against deaths, the rosters and the overlaps, then the never-twice
    checks, then payability. Reasons are tried in :data:`DROP_REASONS` order.
    """
    m = facts.month
    if facts.deceased_on is not None and facts.deceased_on < m:
        return "deceased"
    if facts.benefit_last_month is not None and facts.benefit_last_month < m and facts.benefit != "disability_living":
        return "benefit_ended"
    if facts.benefit in ("disability_living", "disability_nursing"):
        if facts.tekun:
            return "tekun"
        if facts.work_injury_care_allowance:
            return "work_injury_care_allowance"
        if facts.benefit == "disability_living":
            if facts.orphan_allowance:
                return "orphan_allowance"
            if not facts.in_dibao:
                return "not_in_dibao"
    if facts.over_age:
        return "over_age"
    if facts.paid_elsewhere:
        return "already_paid"
    if facts.earlier_in_run:
        return "duplicate"
    if facts.amount <= 0:
        return "nothing_due"
    if not facts.bank_account:
        return "no_bank_account"
    return None


def mask_name(name: str | None) -> str:
    """A payee's name as the bank file shows it: first and last character kept, the rest ``*``
    (王小英 → 王*英, 王英 → 王*, 欧阳小英 → 欧**英). Mirrored by ``sql.MASKED_NAME``."""
    if not name:
        return ""
    if len(name) == 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def bank_name(name: str | None) -> str:
    """The name cell of the bank file: :func:`mask_name`, then ``'``-prefixed if it starts with
    ``=`` ``+`` ``-`` ``@`` (or tab/CR), so a spreadsheet does not run it as a formula
    (:func:`shared.csvcells.safe_cell`; ``=A1+1`` → ``'=***1``). Mirrored by ``sql.BANK_NAME``."""
    return safe_cell(mask_name(name))


def line_reference(line_id: int) -> str:
    """The bank reference of a payment line: ``QGS`` + the line id on 12 digits."""
    if not 0 < line_id < 10**12:
        raise ValueError("line id out of range")
    return f"{REFERENCE_PREFIX}{line_id:012d}"


def parse_reference(reference: str) -> int | None:
    """The line id of a reference we issued, or None if it is not one of ours."""
    match = _REFERENCE.fullmatch(reference.strip()) if isinstance(reference, str) else None
    return int(match.group(1)) if match else None


def control_line(count: int, total: Decimal, run_code: str) -> str:
    """The bank file's last line: ``TOTAL,<lines>,<amount>,<run code>`` (the bank checks it)."""
    return f"TOTAL,{count},{total:.2f},{run_code}"


def run_code(month: date, group: str) -> str:
    """A run's human-readable code: ``2020-06-assistance``."""
    return f"{month.year:04d}-{month.month:02d}-{group}"
