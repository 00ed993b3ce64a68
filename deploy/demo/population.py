"""A synthetic population of Quangang district (泉港区): households as the registry receives them.

Everything is generated from one seed (``random.Random(seed)`` and Faker's ``zh_CN`` locale seeded
the same way), so the same ``--households`` and ``--seed`` give the same people, ID numbers and
incomes on every run. Nothing here talks to the suite: :func:`generate` returns plain objects and
:meth:`Household.as_intake` the JSON of one household for ``POST /api/v1/eligibility/households:bulk``.

What the population looks like (shares of households, rounded):

- structures of a rural southern-Fujian district: three generations under one roof (27 %),
  couples with children (30 %), grandparents raising grandchildren whose parents work in the
  cities (10 %, the left-behind children and elderly), elderly couples (9 %), elderly people living
  alone (7 %), couples (7 %), single adults (5 %), single parents (5 %);
- incomes by economic profile: most households well above the dibao-edge line; about 4 % below
  the 2019 standard of 600 yuan per person and month (``poor``, elderly people living alone more
  often); about 1 % between 600 and 720, who become eligible only when the standard rises in 2020
  (``near_poor``); about 3 % in the edge band below 1.5 × the standard (``edge``, monitored,
  R-RM-1), a third of them ex-poor;
- disabilities (grades 1–4, seven kinds) of about 5 % of persons (more in poor households),
  serious illnesses, school enrolment by age, legal supporters of the elderly (R-TK-1), orphans
  and children without de-facto care with their parents' situation (R-OR-2), revolutionary
  veterans (革命"五老"), left-behind children, elderly and women (三留守);
- resident ID numbers valid under GB 11643-1999: the region code is Hui'an's (350521) for people
  born before Quangang was split from it in 1996, Quangang's (350505) after, another Fujian
  county for spouses married in; birth date and the order code's sex digit are the person's; the
  check character is computed by :func:`shared.ids.make_id_number`;
- bank accounts for most adults (the payee of a benefit), a few households without one.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from faker import Faker

from shared import regions
from shared.ids import make_id_number

# Registration happens at the demo's go-live (2 January 2019): nobody is born after this day.
REFERENCE_DAY = date(2019, 1, 2)
QUANGANG = "350505"
HUIAN = "350521"  # Quangang was part of Hui'an county until 1996
MARRIED_IN = ("350521", "350583", "350582", "350322", "350503", "350524", "350581")  # Hui'an, Nan'an, Jinjiang, Xianyou …
SPLIT_YEAR = 1996

# Town weights (rough shares of the district's registered population).
TOWN_WEIGHTS = {
    "350505001": 0.13, "350505100": 0.16, "350505101": 0.14, "350505102": 0.16,
    "350505103": 0.15, "350505105": 0.13, "350505106": 0.13,
}
STRUCTURES = (
    ("three_generations", 0.27), ("nuclear", 0.30), ("skipped_generation", 0.10), ("elderly_couple", 0.09),
    ("lonely_elderly", 0.07), ("couple", 0.07), ("single_adult", 0.05), ("single_parent", 0.05),
)
DISABILITY_KINDS = (("physical", 45), ("visual", 12), ("hearing", 12), ("speech", 3), ("intellectual", 12), ("mental", 10), ("multiple", 6))
DISABILITY_GRADES = ((1, 15), (2, 25), (3, 30), (4, 30))


@dataclass
class Person:
    """A member of a household as registered (ages as of the reference day)."""

    id_number: str
    name: str
    sex: str
    birth: date
    relation: str
    living_together: bool = True
    able_to_work: bool = False
    disability_grade: int | None = None
    disability_kind: str | None = None
    long_term_care: bool = False
    serious_illness: bool = False
    school_enrolment: str = "none"
    bank_account: str | None = None
    left_behind: str | None = None
    orphan: str | None = None
    child_without_care: bool = False
    revolutionary_veteran: bool = False
    supporters: list[dict[str, Any]] = field(default_factory=list)
    parents: list[dict[str, Any]] = field(default_factory=list)
    # Income of the person, yuan per month (0 = none), and its source.
    monthly_income: Decimal = Decimal("0.00")
    income_source: str = "wages"
    person_id: str | None = None  # eligibility's id, once known

    def age_on(self, day: date) -> int:
        years = day.year - self.birth.year
        return years - ((day.month, day.day) < (self.birth.month, self.birth.day))

    def as_intake(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id_number": self.id_number, "name": self.name, "relation": self.relation,
            "living_together": self.living_together, "able_to_work": self.able_to_work,
            "long_term_care": self.long_term_care, "serious_illness": self.serious_illness,
            "school_enrolment": self.school_enrolment, "child_without_care": self.child_without_care,
            "revolutionary_veteran": self.revolutionary_veteran,
        }
        if self.disability_grade is not None:
            body["disability_grade"], body["disability_kind"] = self.disability_grade, self.disability_kind
            body["disability_certificate"] = f"{self.id_number}{self.disability_kind_code}{self.disability_grade}"
        for name in ("bank_account", "left_behind", "orphan"):
            if getattr(self, name) is not None:
                body[name] = getattr(self, name)
        if self.supporters:
            body["supporters"] = self.supporters
        if self.parents:
            body["parents"] = self.parents
        return body

    @property
    def disability_kind_code(self) -> int:
        return [k for k, _ in DISABILITY_KINDS].index(self.disability_kind) + 1 if self.disability_kind else 0


@dataclass
class Household:
    """A household with its members, assets and flags; ``profile`` is the economic profile."""

    ref: str
    town: str
    village: str
    address: str
    structure: str
    profile: str  # poor, near_poor, edge, normal
    members: list[Person]
    registered_poor: bool = False
    ex_poor: bool = False
    edge: bool = False
    lonely_elderly: bool = False
    irregular_income: bool = False
    deposit: Decimal = Decimal("0.00")
    disqualifying_asset: str | None = None
    household_id: str | None = None  # eligibility's id, once registered

    @property
    def head(self) -> Person:
        return next(m for m in self.members if m.relation == "head")

    @property
    def living(self) -> list[Person]:
        return [m for m in self.members if m.living_together]

    @property
    def monthly_income(self) -> Decimal:
        return sum((m.monthly_income for m in self.living), Decimal("0.00"))

    @property
    def per_capita(self) -> Decimal:
        return (self.monthly_income / max(len(self.living), 1)).quantize(Decimal("0.01"))

    @property
    def rural(self) -> bool:
        """A village household (the street office's communities are urban)."""
        return not self.town == "350505001"

    def as_intake(self) -> dict[str, Any]:
        """The household as ``households:bulk`` takes it: members, incomes of 2018-01..2020-12 (one
        entry per earner: the declared regular income), assets."""
        incomes = [
            {"id_number": m.id_number, "source": m.income_source, "first_month": "2018-01", "last_month": "2020-12",
             "amount": f"{m.monthly_income * 36:.2f}"}
            for m in self.members if m.monthly_income > 0 and m.living_together
        ]
        assets: list[dict[str, Any]] = []
        if self.deposit > 0:
            assets.append({"kind": "deposit", "value": f"{self.deposit:.2f}"})
        if self.disqualifying_asset:
            assets.append({"kind": self.disqualifying_asset, "value": "86000.00", "disqualifying": True,
                           "note": "commercial vehicle" if self.disqualifying_asset == "vehicle" else "second property"})
        return {
            "ref": self.ref, "town": self.town, "village": self.village, "address": self.address,
            "registered_poor": self.registered_poor, "ex_poor": self.ex_poor, "edge": self.edge,
            "lonely_elderly": self.lonely_elderly, "irregular_income": self.irregular_income,
            "members": [m.as_intake() for m in self.members], "incomes": incomes, "assets": assets,
        }


@dataclass
class Population:
    seed: int
    households: list[Household]

    @property
    def persons(self) -> int:
        return sum(len(h.members) for h in self.households)

    def persons_by_town(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for h in self.households:
            counts[h.town] += len(h.members)
        return dict(counts)

    def profiles(self) -> dict[str, int]:
        return dict(Counter(h.profile for h in self.households))


class _Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        fake = Faker("zh_CN")
        fake.seed_instance(seed)
        # Pools drawn once from Faker (its weighted draws are slow); the seeded rng picks from them.
        self.surnames = [fake.last_name() for _ in range(4000)]
        self.male_names = [fake.first_name_male() for _ in range(3000)]
        self.female_names = [fake.first_name_female() for _ in range(3000)]
        self.streets = [fake.street_name() for _ in range(1500)]
        self.sequences: Counter[tuple[str, date, str]] = Counter()
        self.accounts: set[str] = set()
        self.villages = {t: regions.villages_of(t) for t in TOWN_WEIGHTS}

    # --- people ----------------------------------------------------------------------------

    def id_number(self, birth: date, sex: str, region: str | None = None) -> str:
        region = region or (HUIAN if birth.year < SPLIT_YEAR else QUANGANG)
        key = (region, birth, sex)
        while self.sequences[key] >= 500:  # a day's order codes are used up: another county
            region = self.rng.choice(MARRIED_IN)
            key = (region, birth, sex)
        sequence = self.sequences[key]
        self.sequences[key] += 1
        return make_id_number(region, birth, sequence, sex)  # type: ignore[arg-type]

    def birth(self, age_low: int, age_high: int) -> date:
        """A birth date giving an age in [age_low, age_high] on the reference day."""
        age = self.rng.randint(age_low, age_high)
        latest = date(REFERENCE_DAY.year - age, REFERENCE_DAY.month, REFERENCE_DAY.day) - timedelta(days=1)
        return latest - timedelta(days=self.rng.randint(0, 364))

    def bank_account(self) -> str:
        while True:
            account = f"6217{self.rng.randrange(10**15):015d}"
            if account not in self.accounts:
                self.accounts.add(account)
                return account

    def person(self, relation: str, sex: str, age: tuple[int, int], surname: str, *, married_in: bool = False) -> Person:
        birth = self.birth(*age)
        given = self.rng.choice(self.male_names if sex == "male" else self.female_names)
        region = self.rng.choice(MARRIED_IN) if married_in and self.rng.random() < 0.6 else None
        person = Person(id_number=self.id_number(birth, sex, region), name=surname + given, sex=sex, birth=birth, relation=relation)
        years = person.age_on(REFERENCE_DAY)
        if 6 <= years <= 15:
            person.school_enrolment = "compulsory"
        elif 16 <= years <= 18:
            person.school_enrolment = self.rng.choice(("high_school", "secondary_vocational", "none"))
        elif 19 <= years <= 22 and self.rng.random() < 0.45:
            person.school_enrolment = "higher"
        person.able_to_work = 18 <= years <= 59 and person.school_enrolment == "none"
        if years >= 18 and self.rng.random() < 0.9:
            person.bank_account = self.bank_account()
        return person

    def disable(self, person: Person, share: float) -> None:
        if self.rng.random() >= share:
            return
        person.disability_grade = self.rng.choices([g for g, _ in DISABILITY_GRADES], [w for _, w in DISABILITY_GRADES])[0]
        person.disability_kind = self.rng.choices([k for k, _ in DISABILITY_KINDS], [w for _, w in DISABILITY_KINDS])[0]
        if person.disability_grade <= 2:
            person.able_to_work = False
            person.long_term_care = self.rng.random() < 0.6
        elif person.disability_grade == 3 and person.disability_kind in ("intellectual", "mental"):
            person.able_to_work = False

    # --- households ------------------------------------------------------------------------

    def household(self, index: int) -> Household:
        rng = self.rng
        town = rng.choices(list(TOWN_WEIGHTS), list(TOWN_WEIGHTS.values()))[0]
        village = rng.choice(self.villages[town])
        structure = rng.choices([s for s, _ in STRUCTURES], [w for _, w in STRUCTURES])[0]
        draw = rng.random()
        profile = "poor" if draw < 0.03 else "near_poor" if draw < 0.038 else "edge" if draw < 0.065 else "normal"
        if structure == "lonely_elderly" and profile == "normal" and rng.random() < 0.12:
            profile = "poor"  # elderly people living alone are poorer than most
        surname = self.rng.choice(self.surnames)
        members = self.members(structure, surname, profile)
        address = f"福建省泉州市泉港区{regions.town(town).name}{village.name}{rng.choice(self.streets)}{rng.randint(1, 188)}号"
        household = Household(ref=f"QG{index:06d}", town=town, village=village.code, address=address, structure=structure,
                              profile=profile, members=members)
        self.economy(household)
        return household

    def members(self, structure: str, surname: str, profile: str) -> list[Person]:
        rng = self.rng
        disabled_share = 0.15 if profile in ("poor", "near_poor") else 0.08 if profile == "edge" else 0.04
        out: list[Person] = []

        def adult(relation: str, sex: str, age: tuple[int, int], married_in: bool = False) -> Person:
            p = self.person(relation, sex, age, surname if not married_in else self.rng.choice(self.surnames), married_in=married_in)
            self.disable(p, disabled_share)
            out.append(p)
            return p

        def children(n: int, age: tuple[int, int], relation: str = "child") -> list[Person]:
            kids = []
            for _ in range(n):
                kid = self.person(relation, rng.choice(("male", "female")), age, surname)
                self.disable(kid, disabled_share / 3)
                out.append(kid)
                kids.append(kid)
            return kids

        if structure == "lonely_elderly":
            elder = adult("head", rng.choice(("male", "female")), (65, 93))
            sons = rng.choice((0, 0, 1, 1, 2))
            elder.supporters = [{"relation": rng.choice(("son", "daughter")), "able_to_support": profile == "normal" or rng.random() < 0.3}
                                for _ in range(sons)]
            if elder.sex == "male" and elder.age_on(REFERENCE_DAY) >= 84 and rng.random() < 0.15:
                elder.revolutionary_veteran = True
        elif structure == "elderly_couple":
            husband = adult("head", "male", (62, 90))
            adult("spouse", "female", (60, 88), married_in=True)
            if husband.age_on(REFERENCE_DAY) >= 84 and rng.random() < 0.1:
                husband.revolutionary_veteran = True
            for p in out:
                p.supporters = [{"relation": "son", "able_to_support": rng.random() < 0.8}]
        elif structure == "single_adult":
            adult("head", rng.choice(("male", "female")), (24, 59))
        elif structure == "couple":
            adult("head", "male", (24, 59))
            adult("spouse", "female", (22, 57), married_in=True)
        elif structure in ("nuclear", "single_parent"):
            head = adult("head", "male" if structure == "nuclear" or rng.random() < 0.3 else "female", (27, 52))
            if structure == "nuclear":
                wife = adult("spouse", "female", (25, 50), married_in=True)
                if rng.random() < 0.06:  # the husband works away: a left-behind woman
                    head.living_together = False
                    wife.left_behind = "woman"
            children(rng.choice((1, 1, 2, 2, 2, 3)), (0, min(20, head.age_on(REFERENCE_DAY) - 20)))
        elif structure == "three_generations":
            grandpa = adult("parent", "male", (58, 88))
            adult("parent", "female", (56, 86), married_in=True)
            adult("head", "male", (28, 52))
            adult("spouse", "female", (26, 50), married_in=True)
            children(rng.choice((1, 2, 2, 3)), (0, 20))
            if grandpa.age_on(REFERENCE_DAY) >= 84 and rng.random() < 0.1:
                grandpa.revolutionary_veteran = True
        elif structure == "skipped_generation":
            grandpa = adult("head", "male", (56, 82))
            adult("spouse", "female", (54, 80), married_in=True)
            kids = children(rng.choice((1, 2, 2, 3)), (2, 15), relation="grandchild")
            situation = rng.random()
            if profile in ("poor", "near_poor") and situation < 0.25:
                # orphans: both parents dead (R-OR-1), raised by the grandparents
                for kid in kids:
                    kid.orphan = "dispersed"
                    kid.parents = [{"situation": "dead"}, {"situation": "dead"}]
            elif profile in ("poor", "near_poor") and situation < 0.4:
                # children without de-facto care (R-OR-2): father imprisoned, mother severely disabled
                for kid in kids:
                    kid.child_without_care = True
                    kid.parents = [{"situation": "imprisoned"},
                                   {"situation": "severe_disability", "disability_grade": 1, "disability_kind": "mental"}]
            else:
                # the parents work in the cities: members of the household, not living in it
                father = self.person("child", "male", (26, 45), surname)
                mother = self.person("child_in_law", "female", (24, 43), self.rng.choice(self.surnames), married_in=True)
                father.living_together = mother.living_together = False
                out.extend([father, mother])
                for kid in kids:
                    kid.left_behind = "child"
                if grandpa.age_on(REFERENCE_DAY) >= 60:
                    grandpa.left_behind = "elderly"
        return out

    def economy(self, h: Household) -> None:
        """Incomes by profile (yuan per month), assets and the registry flags."""
        rng = self.rng
        living = h.living
        if h.profile == "poor":
            pc = Decimal(rng.randint(0, 430))
        elif h.profile == "near_poor":
            pc = Decimal(rng.randint(612, 700))
        elif h.profile == "edge":
            pc = Decimal(rng.randint(760, 1050))
        else:
            pc = Decimal(rng.randint(1300, 4200))
        total = pc * len(living)
        earners = [m for m in living if m.able_to_work] or [m for m in living if m.age_on(REFERENCE_DAY) >= 18] or living[:1]
        if h.structure == "lonely_elderly" and h.profile == "poor" and rng.random() < 0.7:
            total = Decimal(0)  # no income source at all (R-TK-1)
        if total > 0:
            weights = [rng.uniform(0.5, 1.5) for _ in earners]
            scale = sum(weights)
            for m, w in zip(earners, weights, strict=True):
                m.monthly_income = (total * Decimal(w) / Decimal(scale)).quantize(Decimal("0.01"), ROUND_HALF_UP)
                years = m.age_on(REFERENCE_DAY)
                m.income_source = (
                    "pension" if years >= 60 else rng.choices(("wages", "agriculture", "business"), (6, 3, 1))[0]
                    if h.rural else rng.choices(("wages", "business"), (8, 2))[0]
                )
        h.irregular_income = any(m.income_source in ("agriculture", "business") for m in earners) and rng.random() < 0.5
        h.lonely_elderly = h.structure == "lonely_elderly"
        if h.profile in ("poor", "near_poor"):
            h.registered_poor = rng.random() < 0.55
            h.deposit = Decimal(rng.randint(0, 40)) * 100
            if rng.random() < 0.07:
                h.disqualifying_asset = rng.choice(("vehicle", "real_estate"))
            for m in living:
                if rng.random() < 0.06:
                    m.serious_illness = True
        elif h.profile == "edge":
            h.edge = True
            h.ex_poor = rng.random() < 0.35
            h.deposit = Decimal(rng.randint(5, 120)) * 100
            for m in living:
                if rng.random() < 0.04:
                    m.serious_illness = True
        else:
            h.ex_poor = rng.random() < 0.008
            h.deposit = Decimal(rng.randint(20, 3000)) * 100
            for m in living:
                if rng.random() < 0.01:
                    m.serious_illness = True


def generate(households: int, seed: int) -> Population:
    """``households`` synthetic households of Quangang, the same for the same ``seed``."""
    generator = _Generator(seed)
    return Population(seed=seed, households=[generator.household(i + 1) for i in range(households)])
