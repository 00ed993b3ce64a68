"""Policy rules of the "505" micro-wish campaign (微光成炬) and the 阳光1+1 pairings.

Pure functions only: no I/O, no clock, money as ``Decimal`` yuan in whole fen. Every function cites
the rule of ``POLICY.md`` it implements (measure 14: R-MW-1..4; measure 15: R-OA-2). The services
call them inside their transactions; the calculators (``POST …:evaluate``) call them without storing
anything; the database enforces the money invariant of R-MW-3 once more on its own (a conditional
UPDATE plus ``CHECK (pledged <= cost)``), so a bug here can never over-pledge a wish.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from services.wishes import normalise

ZERO = Decimal("0.00")

# --------------------------------------------------------------------------------------------
# R-MW-1 collection (征集)

FamilyType = Literal["tekun", "dibao", "registered_poor", "lonely_elderly", "child_in_difficulty"]

#: The family types of R-MW-1, in the order the board names a family that has several.
FAMILY_TYPES: tuple[FamilyType, ...] = ("tekun", "dibao", "registered_poor", "lonely_elderly", "child_in_difficulty")

#: Chinese names as the campaign notice uses them (精准扶贫户、低保户、特困人员、孤寡老人、困境儿童).
FAMILY_TYPE_LABELS: dict[str, str] = {
    "tekun": "特困人员",
    "dibao": "低保户",
    "registered_poor": "精准扶贫户",
    "lonely_elderly": "孤寡老人",
    "child_in_difficulty": "困境儿童",
}

#: Benefit categories (docs/events.md) that make a family a dibao, tekun or child-in-difficulty family.
DIBAO_CATEGORIES = frozenset({"dibao", "dibao_single_person"})
TEKUN_CATEGORIES = frozenset({"tekun"})
CHILD_CATEGORIES = frozenset({"orphan_institutional", "orphan_dispersed", "child_without_care"})

#: Number of villages (村、居) in Quangang district taking part: 101 (shared.regions.VILLAGES).
CAMPAIGN_VILLAGES = 101


@dataclass(frozen=True)
class FamilyFacts:
    """What this service knows of a household from eligibility's events (its projection)."""

    registered_poor: bool = False
    dibao: bool = False
    tekun: bool = False
    lonely_elderly: bool = False
    child_in_difficulty: bool = False


def facts_from_projection(
    *, registered_poor: bool, lonely_elderly: bool, child_in_difficulty: bool, active_benefits: set[str] | frozenset[str]
) -> FamilyFacts:
    """R-MW-1: combine a household's flags and its active benefit categories into :class:`FamilyFacts`.

    ``active_benefits`` are benefit categories (``dibao``, ``dibao_single_person``, ``tekun``,
    ``orphan_*``, ``child_without_care`` …) granted and not ended.
    """
    return FamilyFacts(
        registered_poor=registered_poor,
        dibao=bool(active_benefits & DIBAO_CATEGORIES),
        tekun=bool(active_benefits & TEKUN_CATEGORIES),
        lonely_elderly=lonely_elderly,
        child_in_difficulty=child_in_difficulty or bool(active_benefits & CHILD_CATEGORIES),
    )


def family_types(facts: FamilyFacts) -> tuple[FamilyType, ...]:
    """R-MW-1: the family types under which a household may have a wish (困难群体), in board order.

    Empty when the household is none of registered-poor (精准扶贫户), dibao (低保户), tekun
    (特困人员), lonely-elderly (孤寡老人) or child-in-difficulty (困境儿童).
    """
    return tuple(t for t in FAMILY_TYPES if getattr(facts, t))


@dataclass(frozen=True)
class CollectionDecision:
    """Whether a village may enter a wish for a family (R-MW-1), and why not.

    ``code``: None when accepted, else ``not_eligible``, ``household_has_wish`` or
    ``village_quota`` (checked in that order).
    """

    accepted: bool
    code: str | None
    family_types: tuple[FamilyType, ...]
    family_type: FamilyType | None
    village_quota: int
    wishes_in_village: int
    remaining_in_village: int


def collection_decision(
    facts: FamilyFacts, *, wishes_in_village: int, village_quota: int, household_has_wish: bool = False
) -> CollectionDecision:
    """R-MW-1: may the village enter one more wish (微心愿) for this family in this campaign?

    ``wishes_in_village``: the village's wishes in the campaign so far (rejected ones excluded);
    ``village_quota``: the parameter ``village_quota`` (5). A family has at most one wish per
    campaign. Refusal codes: ``not_eligible``, ``household_has_wish``, ``village_quota``.
    """
    if village_quota < 0 or wishes_in_village < 0:
        raise ValueError("quota and counts are never negative")
    types = family_types(facts)
    remaining = max(village_quota - wishes_in_village, 0)
    code: str | None = None
    if not types:
        code = "not_eligible"
    elif household_has_wish:
        code = "household_has_wish"
    elif wishes_in_village >= village_quota:
        code = "village_quota"
    return CollectionDecision(
        accepted=code is None,
        code=code,
        family_types=types,
        family_type=types[0] if types else None,
        village_quota=village_quota,
        wishes_in_village=wishes_in_village,
        remaining_in_village=remaining - 1 if code is None else remaining,
    )


def campaign_target(village_quota: int, villages: int = CAMPAIGN_VILLAGES) -> int:
    """R-MW-1: the campaign's number of wishes: ``villages × village_quota`` (101 × 5 = 505)."""
    return villages * village_quota


# --------------------------------------------------------------------------------------------
# R-MW-2 publication (发布): never a name, ID number, phone or address

PersonalDataKind = Literal["id_number", "phone", "address"]

# 18-digit (or legacy 15-digit) resident ID numbers, not part of a longer run of digits.
_ID_NUMBER = re.compile(r"(?<![0-9])(?:[0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9Xx])")
# Mainland mobiles (optionally +86) and landlines with an area code (0595-87654321, 0595 8765 4321).
_PHONE = re.compile(
    r"(?<![0-9])(?:\+?86[- ]?)?1[3-9][0-9](?:[- ]?[0-9]{4}){2}(?![0-9])"
    r"|(?<![0-9])0[0-9]{2,3}[- ][0-9]{3,4}[- ]?[0-9]{4}(?![0-9])"
    # an area code and a 7- or 8-digit number run together (059587654321; (0595)87654321 compacted)
    r"|(?<![0-9])0[0-9]{2,3}[1-9][0-9]{6,7}(?![0-9])"
)
# A postal address: a place word followed by a house number (…路12号, …村3组5号, 5栋302室).
_ADDRESS = re.compile(
    r"[\u4e00-\u9fff]{1,12}(?:路|街|巷|弄|村|社区|小区|组)[^\s,;，；。]{0,20}?[0-9０-９一二三四五六七八九十]+\s*(?:号|组|栋|幢|室|楼)"
    r"|[0-9]+\s*(?:栋|幢)\s*[0-9]+\s*(?:室|号)"
)


@dataclass(frozen=True)
class PersonalDataFinding:
    """One piece of text that looks like personal data: its kind and position in the text."""

    kind: PersonalDataKind
    start: int
    end: int


def personal_data_findings(text: str) -> list[PersonalDataFinding]:
    """R-MW-2: the places in a wish's public text that look like an ID number, phone or address.

    A published wish (微心愿) shows its village, family type, the wish and its cost only; the
    free text a village officer types is screened for resident ID numbers, phone numbers and
    street addresses (house numbers). Names cannot be recognised reliably in free text: the
    town's review before publication is the safeguard for them, and the service never stores a
    family member's name at all. Findings are sorted by position; digits inside an ID number
    are not reported again as a phone.

    The patterns run on normalised views of the text (:func:`services.wishes.normalise.views`):
    full-width digits, Chinese numerals (一三八…, 壹叁捌…, 十 for "10" or a teen's "1" in a spelled-out
    number), separators between digits (spaces, dashes, brackets), invisible characters (Cf,
    combining marks, default-ignorables such as Hangul fillers), HTML tags, hidden elements
    (``<script>``, ``<style>``) and character references (``138<br>1234&#53;678``) do not hide a
    number; ``start``/``end`` are positions in ``text`` as given.
    """
    views = normalise.views(text)  # rendered first: their match spans the whole number
    findings: list[PersonalDataFinding] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern, searched in (("id_number", _ID_NUMBER, views), ("phone", _PHONE, views),
                                    ("address", _ADDRESS, views)):
        for view in searched:
            for match in pattern.finditer(view[0]):
                start, end = normalise.original_span(view, *match.span())
                if any(start < e and s < end for s, e in taken):
                    continue
                taken.append((start, end))
                findings.append(PersonalDataFinding(kind, start, end))  # type: ignore[arg-type]
    return sorted(findings, key=lambda f: f.start)


#: The only fields a wish has on the public board (R-MW-2); anything else stays inside.
BOARD_FIELDS = (
    "id", "campaign_id", "town", "town_name", "village", "village_name", "family_type",
    "family_type_label", "category", "title", "description", "cost", "pledged", "open_amount",
    "status", "published_at",
)

#: Field names that must never appear on the board, at any depth (R-MW-2).
FORBIDDEN_PUBLIC_KEYS = frozenset({
    "name", "full_name", "id_number", "phone", "mobile", "telephone", "address", "household_id",
    "person_id", "members", "entered_by", "reviewed_by", "donor", "donor_subject",
})


# --------------------------------------------------------------------------------------------
# R-MW-3 adoption (认领): one-to-one, one-to-many, many-to-one; never above the cost

WishStatus = Literal["submitted", "rejected", "published", "fully_pledged", "delivered", "confirmed", "closed"]

#: Statuses in which a wish takes pledges (fully_pledged takes none: nothing is open).
PLEDGEABLE: frozenset[str] = frozenset({"published"})
#: Statuses of a wish shown on the public board.
PUBLIC_STATUSES: tuple[str, ...] = ("published", "fully_pledged", "delivered", "confirmed", "closed")


def open_amount(cost: Decimal, pledged: Decimal) -> Decimal:
    """R-MW-3: what is still open on a wish: ``cost − pledged`` (never negative), in yuan."""
    return max(cost - pledged, ZERO)


@dataclass(frozen=True)
class PledgeOutcome:
    """The result of offering ``amount`` yuan to a wish (R-MW-3).

    ``code``: None when accepted, else ``over_pledged`` (more than is open; ``open_amount`` says
    how much is) or ``wish_not_open`` (the wish takes no pledges in its status).
    """

    accepted: bool
    code: str | None
    amount: Decimal
    pledged_before: Decimal
    pledged_after: Decimal
    open_amount: Decimal
    fully_pledged: bool


def evaluate_pledge(
    *, cost: Decimal, pledged: Decimal, amount: Decimal | None, status: str = "published"
) -> PledgeOutcome:
    """R-MW-3: may a donor pledge ``amount`` yuan to a wish of ``cost`` with ``pledged`` so far?

    ``amount`` None means "the rest of the wish" (the open amount). Accepted while the pledged
    total stays at or below the cost (pledges of several donors sum up to it, 多对一); the wish
    is fully pledged when the total reaches the cost. An amount must be positive and whole fen
    (ValueError otherwise: callers validate input before). ``open_amount`` is what is open
    after an accepted pledge, or what is open now for a refused one.
    """
    if cost <= 0 or pledged < 0 or pledged > cost:
        raise ValueError("a wish has a positive cost and 0 <= pledged <= cost")
    if amount is not None and (amount <= 0 or amount != amount.quantize(Decimal("0.01"))):
        raise ValueError("a pledge is a positive amount of whole fen")
    before = pledged
    available = open_amount(cost, pledged)
    if status not in PLEDGEABLE:
        # A fully pledged wish is still on the board: the donor is simply too late.
        code = "over_pledged" if status == "fully_pledged" else "wish_not_open"
        return PledgeOutcome(False, code, amount or available, before, before, available, before == cost)
    wanted = available if amount is None else amount
    if wanted <= 0 or wanted > available:
        return PledgeOutcome(False, "over_pledged", wanted, before, before, available, False)
    after = before + wanted
    return PledgeOutcome(True, None, wanted, before, after, cost - after, after == cost)


@dataclass(frozen=True)
class PledgeLine:
    """One wish of a pledge request and the amount offered (None: the rest of the wish)."""

    wish_id: int
    amount: Decimal | None


def pledge_request_problems(lines: list[PledgeLine], *, max_lines: int) -> list[tuple[int, str]]:
    """R-MW-3: problems of a pledge request as ``(index, code)``: ``duplicate_wish`` for a wish
    named twice (one request pledges each wish once), ``too_many_wishes`` past ``max_lines``.
    """
    problems: list[tuple[int, str]] = []
    seen: set[int] = set()
    for index, line in enumerate(lines):
        if line.wish_id in seen:
            problems.append((index, "duplicate_wish"))
        seen.add(line.wish_id)
    if len(lines) > max_lines:
        problems.append((max_lines, "too_many_wishes"))
    return problems


# --------------------------------------------------------------------------------------------
# R-MW-4 fulfilment (兑现): delivered, confirmed by the family (or the village), closed

PledgeStatus = Literal["active", "delivered", "fulfilled", "expired"]


def pledge_expires_at(pledged_at: datetime, pledge_days: int) -> datetime:
    """R-MW-4: when a pledge lapses if it is not delivered: ``pledge_days`` (30) calendar days
    after it was made, to the second."""
    if pledge_days < 1:
        raise ValueError("pledge_days is at least 1")
    if pledged_at.tzinfo is None:
        raise ValueError("pledged_at must be aware")
    return pledged_at + timedelta(days=pledge_days)


def pledge_expired(*, status: str, expires_at: datetime, now: datetime) -> bool:
    """R-MW-4: an active (undelivered) pledge expires once ``now`` reaches ``expires_at``;
    its amount then returns to the wish (the wish goes back on the board)."""
    return status == "active" and now >= expires_at


@dataclass(frozen=True)
class Transition:
    """A state change: the statuses it starts from and the one it ends in."""

    sources: frozenset[str]
    target: str


#: R-MW-2..4: what may happen to a wish.
WISH_TRANSITIONS: dict[str, Transition] = {
    "publish": Transition(frozenset({"submitted"}), "published"),
    "reject": Transition(frozenset({"submitted"}), "rejected"),
    "fully_pledge": Transition(frozenset({"published"}), "fully_pledged"),
    "reopen": Transition(frozenset({"fully_pledged"}), "published"),  # a pledge expired
    "deliver": Transition(frozenset({"fully_pledged"}), "delivered"),
    "confirm": Transition(frozenset({"delivered"}), "confirmed"),
    "close": Transition(frozenset({"confirmed"}), "closed"),
}

#: R-MW-4: what may happen to a pledge.
PLEDGE_TRANSITIONS: dict[str, Transition] = {
    "deliver": Transition(frozenset({"active"}), "delivered"),
    "fulfil": Transition(frozenset({"delivered"}), "fulfilled"),
    "expire": Transition(frozenset({"active"}), "expired"),
}


class InvalidTransition(ValueError):
    """The action is not possible in the current status; ``code`` is ``invalid_status``."""

    code = "invalid_status"

    def __init__(self, action: str, status: str) -> None:
        super().__init__(f"cannot {action} in status {status}")
        self.action = action
        self.status = status


def next_status(transitions: dict[str, Transition], action: str, status: str) -> str:
    """R-MW-4 / R-OA-2: the status after ``action`` from ``status``; InvalidTransition if not allowed."""
    transition = transitions.get(action)
    if transition is None or status not in transition.sources:
        raise InvalidTransition(action, status)
    return transition.target


def wish_delivered(*, status: str, active_pledges: int) -> bool:
    """R-MW-4: a fully pledged wish is delivered once none of its pledges awaits delivery."""
    return status == "fully_pledged" and active_pledges == 0


def status_after_expiry(*, status: str, cost: Decimal, pledged_after: Decimal) -> str:
    """R-MW-4: a wish's status once an expired pledge's amount has returned to it: a fully
    pledged wish is open (published) again; other statuses do not change."""
    if status == "fully_pledged" and pledged_after < cost:
        return "published"
    return status


ConfirmedBy = Literal["family", "village"]


# --------------------------------------------------------------------------------------------
# R-OA-2 阳光1+1: a social organization paired with an old-area village (老区村), with projects

#: R-OA-2: life of a pairing (结对) and of each of its projects.
PAIRING_TRANSITIONS: dict[str, Transition] = {
    "suspend": Transition(frozenset({"active"}), "suspended"),
    "resume": Transition(frozenset({"suspended"}), "active"),
    "end": Transition(frozenset({"active", "suspended"}), "ended"),
}
PROJECT_TRANSITIONS: dict[str, Transition] = {
    "start": Transition(frozenset({"planned"}), "in_progress"),
    "complete": Transition(frozenset({"in_progress"}), "completed"),
    "cancel": Transition(frozenset({"planned", "in_progress"}), "cancelled"),
}


@dataclass(frozen=True)
class PairingCheck:
    """R-OA-2: whether an organization may be paired with a village; ``code`` when not."""

    allowed: bool
    code: str | None = None
    reasons: list[str] = field(default_factory=list)


def pairing_check(*, old_area_village: bool, organization_active: bool, already_paired: bool) -> PairingCheck:
    """R-OA-2 ("阳光1+1" 社会组织+老区村): only a designated old-area village, an active
    organization, and one live pairing per organization and village. Codes, in order:
    ``not_old_area_village``, ``organization_inactive``, ``already_paired``."""
    if not old_area_village:
        return PairingCheck(False, "not_old_area_village")
    if not organization_active:
        return PairingCheck(False, "organization_inactive")
    if already_paired:
        return PairingCheck(False, "already_paired")
    return PairingCheck(True)


# Unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters, last one a check.
_CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code_check_character(first17: str) -> str:
    """R-OA-2 registry: the check character of a unified social credit code (GB 32100-2015)."""
    if len(first17) != 17 or any(c not in _CREDIT_ALPHABET for c in first17):
        raise ValueError("17 characters of the code alphabet expected")
    total = sum(_CREDIT_ALPHABET.index(c) * w for c, w in zip(first17, _CREDIT_WEIGHTS, strict=True))
    return _CREDIT_ALPHABET[(31 - total % 31) % 31]


def valid_credit_code(code: str) -> bool:
    """True for an 18-character unified social credit code with a correct check character."""
    if len(code) != 18 or any(c not in _CREDIT_ALPHABET for c in code):
        return False
    return credit_code_check_character(code[:17]) == code[17]
