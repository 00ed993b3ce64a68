"""The set-based statements of a payment run (PostgreSQL).

A run's snapshot and cross-check is ONE ``INSERT … SELECT``: the roster is joined once, every
candidate line gets its verdict (R-DS-2 comparison, then the never-twice checks of R-DS-3) in the
same pass, failed lines of earlier runs are carried in, and the totals come back from the same
statement. Nothing is loaded into Python, so a million-line run costs one join. The verdict
order is ``rules.line_verdict``'s; the amounts are those of the pure rules, with the month's
figures bound as parameters (computed by ``service.group_figures`` from the pure rules).

The bank file (:data:`BANK_FILE_LINES`) guards against spreadsheet formula injection (OWASP "CSV
Injection"): the masked name is ``'``-prefixed when it starts with ``=`` ``+`` ``-`` ``@`` (tab, CR),
as ``shared.csvcells.safe_cell`` does; accounts, amounts, references and the ``TOTAL`` control
line are written unchanged, so the bank's system reads the file as before.
"""

from __future__ import annotations

# "Active in month M": effective_month <= M and not ended before M. The snapshot also takes
# benefits that ended in M-1, so that the comparison reports them (dropped: benefit_ended).
_WINDOW = "{b}.effective_month <= :month AND ({b}.last_month IS NULL OR {b}.last_month >= :prev_month)"
_ACTIVE = "{b}.effective_month <= :month AND ({b}.last_month IS NULL OR {b}.last_month >= :month)"

# R-DB-4: standard × members − net monthly income (= net_income_12m / 12), rounded half-up once;
# PostgreSQL's round(numeric) rounds half away from zero, i.e. half-up for the amounts >= 0 kept.
_DIBAO_AMOUNT = (
    "CASE WHEN {b}.amount_basis = 'gap' "
    "THEN GREATEST(round(CAST(:std AS numeric) * {b}.members_count - {b}.net_income_12m / 12, 2), 0) "
    "ELSE {b}.monthly_amount END"
)
_CARE_TIER = (
    "CASE {c}.level WHEN 'partial_loss' THEN CAST(:care_partial_loss AS numeric) "
    "WHEN 'full_loss' THEN CAST(:care_full_loss AS numeric) ELSE CAST(:care_self_care AS numeric) END"
)
_DEAD = "{p}.deceased_on < :month"

# Which of several lines with the same (person, benefit, month) is kept: payable before dropped,
# from the roster before carried in, then the smallest benefit id (rules.line_verdict: duplicate).
_KEEP_KEY = (
    "(CASE WHEN {c}.reason IS NULL THEN '0' ELSE '1' END"
    " || CASE WHEN {c}.carried_from_line_id IS NULL THEN '0' ELSE '1' END"
    " || COALESCE({c}.benefit_id, '') || '|' || COALESCE(CAST({c}.carried_from_line_id AS text), ''))"
)

_COLUMNS = (
    "person_id, payee_id, household_id, benefit_id, benefit, month, amount, town, village, "
    "payee_name, bank_account, reason, carried_from_line_id"
)


def _roster_benefit_select(benefit_expr: str, amount_expr: str, categories: str, extra_join: str = "") -> str:
    return f"""
        SELECT b.person_id, b.person_id, b.household_id, b.benefit_id, {benefit_expr}, CAST(:month AS date),
               {amount_expr}, COALESCE(p.town, b.town), COALESCE(p.village, b.village), p.name, p.bank_account,
               CASE WHEN {_DEAD.format(p='p')} THEN 'deceased'
                    WHEN b.last_month < :month THEN 'benefit_ended' END,
               CAST(NULL AS bigint)
          FROM roster_benefits b
          LEFT JOIN roster_persons p ON p.person_id = b.person_id
          {extra_join}
         WHERE b.category IN ({categories}) AND {_WINDOW.format(b='b')}"""


# R-TK-4: a tekun person in centralized support during the month — the care home is paid what
# the fees (bed + living + nursing by self-care level) exceed the person's tekun entitlements.
_CENTRALIZED_FEE = f"""
        SELECT b.person_id, pl.home_id, b.household_id, pl.placement_id, 'centralized_support_fee',
               CAST(:month AS date),
               GREATEST(CAST(:fee_bed AS numeric) + CAST(:fee_living AS numeric)
                        + CASE COALESCE(c.level, pl.level) WHEN 'partial_loss' THEN CAST(:fee_nursing_partial_loss AS numeric)
                               WHEN 'full_loss' THEN CAST(:fee_nursing_full_loss AS numeric)
                               ELSE CAST(:fee_nursing_self_care AS numeric) END
                        - CAST(:tekun_basic AS numeric) - {_CARE_TIER.format(c='c')}, 0),
               COALESCE(p.town, b.town), COALESCE(p.village, b.village), h.home_name, h.bank_account,
               CASE WHEN {_DEAD.format(p='p')} THEN 'deceased'
                    WHEN b.last_month < :month THEN 'benefit_ended' END,
               CAST(NULL AS bigint)
          FROM roster_placements pl
          JOIN roster_benefits b ON b.person_id = pl.person_id AND b.category = 'tekun' AND {_WINDOW.format(b='b')}
          LEFT JOIN roster_persons p ON p.person_id = b.person_id
          LEFT JOIN roster_care_levels c ON c.person_id = b.person_id
          LEFT JOIN care_home_accounts h ON h.home_id = pl.home_id
         WHERE pl.started_on < CAST(:next_month AS date) AND (pl.ended_on IS NULL OR pl.ended_on >= :month)"""

ASSISTANCE = "\nUNION ALL\n".join([
    _roster_benefit_select("b.category", _DIBAO_AMOUNT.format(b="b"), "'dibao', 'dibao_single_person'"),
    _roster_benefit_select("'tekun_basic'", "CAST(:tekun_basic AS numeric)", "'tekun'"),
    _roster_benefit_select("'tekun_care'", _CARE_TIER.format(c="c"), "'tekun'",
                           "LEFT JOIN roster_care_levels c ON c.person_id = b.person_id"),
    _CENTRALIZED_FEE,
])

VETERANS = _roster_benefit_select("b.category", "CAST(:veteran AS numeric)", "'revolutionary_veteran'")

# R-OR-1 amounts; R-OR-2: a child without de-facto care already in dibao or tekun gets the top-up.
_CHILD_SHARE = f"""
    LEFT JOIN LATERAL (
        SELECT COALESCE(sum(x.amount), 0) AS amount FROM (
            SELECT round(({_DIBAO_AMOUNT.format(b='db')}) / GREATEST(db.members_count, 1), 2) AS amount
              FROM roster_benefit_members dm JOIN roster_benefits db ON db.benefit_id = dm.benefit_id
             WHERE dm.person_id = b.person_id AND db.category IN ('dibao', 'dibao_single_person')
               AND {_ACTIVE.format(b='db')}
            UNION ALL
            SELECT CAST(:tekun_basic AS numeric) + {_CARE_TIER.format(c='cl')}
              FROM roster_benefits tb LEFT JOIN roster_care_levels cl ON cl.person_id = tb.person_id
             WHERE tb.person_id = b.person_id AND tb.category = 'tekun' AND {_ACTIVE.format(b='tb')}
        ) x
    ) share ON b.category = 'child_without_care'"""
CHILDREN = f"""
        SELECT b.person_id, b.person_id, b.household_id, b.benefit_id, b.category, CAST(:month AS date),
               CASE b.category WHEN 'orphan_institutional' THEN CAST(:orphan_institutional AS numeric)
                    WHEN 'orphan_dispersed' THEN CAST(:orphan_dispersed AS numeric)
                    ELSE GREATEST(CAST(:orphan_dispersed AS numeric) - COALESCE(share.amount, 0), 0) END,
               COALESCE(p.town, b.town), COALESCE(p.village, b.village), p.name, p.bank_account,
               CASE WHEN {_DEAD.format(p='p')} THEN 'deceased'
                    WHEN b.last_month < :month THEN 'benefit_ended'
                    WHEN p.birth_date IS NOT NULL
                         AND CAST(:month AS date) > CAST(date_trunc('month', p.birth_date) + make_interval(years => CAST(:adult_age AS integer)) AS date)
                         AND COALESCE(p.school_enrolment, 'none') NOT IN ('high_school', 'secondary_vocational')
                    THEN 'over_age' END,
               CAST(NULL AS bigint)
          FROM roster_benefits b
          LEFT JOIN roster_persons p ON p.person_id = b.person_id
          {_CHILD_SHARE}
         WHERE b.category IN ('orphan_institutional', 'orphan_dispersed', 'child_without_care')
           AND {_WINDOW.format(b='b')}"""

# R-DS-1/2: living subsidy for disabled members of dibao households (around the month), nursing
# subsidy for grade 1–2 with long-term care; the comparison drops tekun, work-injury, orphan-
# allowance (living only), not-in-dibao (living only) and deaths.
DISABILITY = f"""
        WITH dib AS (
            SELECT m.person_id, bool_or(b.last_month IS NULL OR b.last_month >= :month) AS in_dibao,
                   min(b.benefit_id) AS benefit_id
              FROM roster_benefit_members m JOIN roster_benefits b ON b.benefit_id = m.benefit_id
             WHERE b.category IN ('dibao', 'dibao_single_person') AND {_WINDOW.format(b='b')}
             GROUP BY m.person_id
        ), other AS (
            SELECT m.person_id, bool_or(b.category = 'tekun') AS tekun,
                   bool_or(b.category <> 'tekun') AS orphan
              FROM roster_benefit_members m JOIN roster_benefits b ON b.benefit_id = m.benefit_id
             WHERE b.category IN ('tekun', 'orphan_institutional', 'orphan_dispersed', 'child_without_care')
               AND {_ACTIVE.format(b='b')}
             GROUP BY m.person_id
        )
        SELECT p.person_id, p.person_id, p.household_id, d.benefit_id, 'disability_living', CAST(:month AS date),
               CAST(:living AS numeric), p.town, p.village, p.name, p.bank_account,
               CASE WHEN {_DEAD.format(p='p')} THEN 'deceased'
                    WHEN o.tekun THEN 'tekun'
                    WHEN p.work_injury_care_allowance THEN 'work_injury_care_allowance'
                    WHEN o.orphan THEN 'orphan_allowance'
                    WHEN NOT d.in_dibao THEN 'not_in_dibao' END,
               CAST(NULL AS bigint)
          FROM roster_persons p
          JOIN dib d ON d.person_id = p.person_id
          LEFT JOIN other o ON o.person_id = p.person_id
         WHERE p.disability_grade IS NOT NULL
        UNION ALL
        SELECT p.person_id, p.person_id, p.household_id, NULL, 'disability_nursing', CAST(:month AS date),
               CASE p.disability_grade WHEN 1 THEN CAST(:nursing_1 AS numeric) ELSE CAST(:nursing_2 AS numeric) END,
               p.town, p.village, p.name, p.bank_account,
               CASE WHEN {_DEAD.format(p='p')} THEN 'deceased'
                    WHEN o.tekun THEN 'tekun'
                    WHEN p.work_injury_care_allowance THEN 'work_injury_care_allowance' END,
               CAST(NULL AS bigint)
          FROM roster_persons p
          LEFT JOIN other o ON o.person_id = p.person_id
         WHERE p.disability_grade IN (1, 2) AND p.long_term_care
           AND (p.deceased_on IS NULL OR p.deceased_on >= :prev_month)"""

# R-PS-3: one line per person per month whatever the categories; household benefits pay every
# member, into the benefit payee's account. An active benefit is preferred to one ending.
PRICE = f"""
        SELECT DISTINCT ON (m.person_id)
               m.person_id, b.person_id, b.household_id, b.benefit_id, 'price_subsidy', CAST(:month AS date),
               CAST(:price_amount AS numeric), COALESCE(mp.town, b.town), COALESCE(mp.village, b.village),
               payee.name, payee.bank_account,
               CASE WHEN {_DEAD.format(p='mp')} THEN 'deceased'
                    WHEN b.last_month < :month THEN 'benefit_ended' END,
               CAST(NULL AS bigint)
          FROM roster_benefit_members m
          JOIN roster_benefits b ON b.benefit_id = m.benefit_id
          LEFT JOIN roster_persons mp ON mp.person_id = m.person_id
          LEFT JOIN roster_persons payee ON payee.person_id = b.person_id
         WHERE b.category = ANY(CAST(:categories AS text[])) AND {_WINDOW.format(b='b')}
         ORDER BY m.person_id, (b.last_month IS NULL OR b.last_month >= :month) DESC, b.benefit_id"""

# R-HS-1: tranches of milestones reached up to the month that no run has taken yet.
HOUSING = """
        SELECT pr.person_id, pr.person_id, pr.household_id, CAST(pr.id AS text), 'housing_' || hm.milestone,
               hm.month, hm.amount, pr.town, pr.village, p.name, p.bank_account,
               CAST(NULL AS text), CAST(NULL AS bigint)
          FROM housing_milestones hm
          JOIN housing_projects pr ON pr.id = hm.project_id
          LEFT JOIN roster_persons p ON p.person_id = pr.person_id
         WHERE hm.month <= :month
           AND NOT EXISTS (SELECT 1 FROM payment_lines l
                            WHERE l.benefit LIKE 'housing_%' AND l.benefit_id = CAST(pr.id AS text)
                              AND l.benefit = 'housing_' || hm.milestone AND l.status <> 'dropped')"""

GROUP_CANDIDATES = {
    "assistance": ASSISTANCE,
    "disability": DISABILITY,
    "children": CHILDREN,
    "veterans": VETERANS,
    "price": PRICE,
    "housing": HOUSING,
}

# Failed lines of earlier runs of the group, carried in as they were (same person, benefit, month
# and amount), paid into the account the roster holds now.
CARRIED = """
        SELECT f.person_id, f.payee_id, f.household_id, f.benefit_id, f.benefit, f.month, f.amount,
               COALESCE(payee.town, f.town), COALESCE(payee.village, f.village),
               COALESCE(payee.name, f.payee_name), COALESCE(payee.bank_account, f.bank_account),
               CASE WHEN pp.deceased_on < f.month THEN 'deceased' END,
               f.id
          FROM payment_lines f
          LEFT JOIN roster_persons payee ON payee.person_id = f.payee_id
          LEFT JOIN roster_persons pp ON pp.person_id = f.person_id
         WHERE f.status = 'failed' AND f.carried_to_run_id IS NULL
           AND f.benefit = ANY(CAST(:benefits AS text[])) AND f.run_id <> CAST(:run_id AS uuid)"""


def snapshot_statement(group: str) -> str:
    """The whole snapshot + cross-check of a run of ``group`` as one statement.

    Binds: ``run_id``, ``month``, ``prev_month``, ``benefits`` and the group's figures. Returns one
    row: ``total``, ``payable``, ``dropped``, ``carried_in``, ``amount_payable``, the new lines' id
    range, ``other_months`` (months of lines carried in), ``snapshot_xmin``.

    The roster is joined once, straight into the ``INSERT``: no sort and no second pass over the
    wide rows (each costs about as much as it could save on the indexes; measured with
    ``tests/bench/bench_subsidy.py``). Before the first line is written, three small sets are
    built once each: ``live`` — lines of this group's benefits already payable or paid for
    the months this run can pay (a range of the never-twice index); ``carried_in`` — failed lines
    of earlier runs to carry in (the partial index of lines to carry); ``twice`` — the (person,
    benefit, month) keys appearing more than once in this run, a hash aggregate over the keys
    only (the planner leaves out the joins that do not change them). ``already_paid`` and
    ``duplicate`` are then hashed look-ups per line; only for the keys in ``twice`` is the line
    to keep chosen (payable before dropped, roster before carried in, then the smallest benefit
    id), from those keys' own candidates (index look-ups). The partial unique index stays the
    last word under concurrency.
    """
    candidates = GROUP_CANDIDATES[group]
    if group == "housing":
        months = "o.month <= :month"
    else:
        months = """(o.month = :month OR o.month IN (
                 SELECT f.month FROM payment_lines f
                  WHERE f.status = 'failed' AND f.carried_to_run_id IS NULL
                    AND f.benefit = ANY(CAST(:benefits AS text[]))))"""
    same_key = "{a}.person_id = {b}.person_id AND {a}.benefit = {b}.benefit AND {a}.month = {b}.month"
    return f"""
WITH live AS MATERIALIZED (
    SELECT o.person_id, o.benefit, o.month FROM payment_lines o
     WHERE o.status IN ('payable', 'paid') AND o.benefit = ANY(CAST(:benefits AS text[])) AND {months}
), carried_in ({_COLUMNS}) AS MATERIALIZED (
    {CARRIED}
), candidates ({_COLUMNS}) AS NOT MATERIALIZED (
    ({candidates})
    UNION ALL
    SELECT * FROM carried_in
), twice AS MATERIALIZED (
    SELECT c.person_id, c.benefit, c.month FROM candidates c
     GROUP BY c.person_id, c.benefit, c.month
    HAVING count(*) > 1
), keepers AS MATERIALIZED (
    SELECT t.person_id, t.benefit, t.month, k.keeper
      FROM twice t
     CROSS JOIN LATERAL (
        SELECT min({_KEEP_KEY.format(c='d')}) AS keeper FROM candidates d WHERE {same_key.format(a='d', b='t')}
     ) k
), judged AS (
    SELECT r.*, COALESCE(
               r.reason,
               CASE WHEN (r.person_id, r.benefit, r.month) IN (SELECT l.person_id, l.benefit, l.month FROM live l)
                    THEN 'already_paid' END,
               CASE WHEN (r.person_id, r.benefit, r.month) IN (SELECT t.person_id, t.benefit, t.month FROM twice t)
                    THEN CASE WHEN {_KEEP_KEY.format(c='r')} <> (
                                   SELECT k.keeper FROM keepers k WHERE {same_key.format(a='k', b='r')})
                              THEN 'duplicate' END END,
               CASE WHEN r.amount <= 0 THEN 'nothing_due' END,
               CASE WHEN COALESCE(r.bank_account, '') = '' THEN 'no_bank_account' END) AS verdict
      FROM candidates r
    OFFSET 0  -- not pulled up: the verdict is computed once per line, not once per use below
), inserted AS (
    INSERT INTO payment_lines (run_id, person_id, payee_id, household_id, benefit_id, benefit, month, amount,
                               town, village, payee_name, bank_account, status, drop_reason, dropped_stage,
                               carried_from_line_id)
    SELECT CAST(:run_id AS uuid), j.person_id, j.payee_id, j.household_id, j.benefit_id, j.benefit, j.month,
           j.amount, j.town, j.village, j.payee_name, j.bank_account,
           CASE WHEN j.verdict IS NULL THEN 'payable' ELSE 'dropped' END,
           j.verdict, CASE WHEN j.verdict IS NOT NULL THEN 'snapshot' END, j.carried_from_line_id
      FROM judged j
    RETURNING id, month, status, amount, carried_from_line_id
), carried AS (
    UPDATE payment_lines f SET carried_to_run_id = CAST(:run_id AS uuid)
     WHERE f.id = ANY(ARRAY(SELECT i.carried_from_line_id FROM inserted i WHERE i.carried_from_line_id IS NOT NULL))
    RETURNING 1
)
SELECT count(*) AS total,
       count(*) FILTER (WHERE status = 'payable') AS payable,
       count(*) FILTER (WHERE status = 'dropped') AS dropped,
       count(*) FILTER (WHERE carried_from_line_id IS NOT NULL) AS carried_in,
       COALESCE(sum(amount) FILTER (WHERE status = 'payable'), 0) AS amount_payable,
       min(id) AS first_line_id, max(id) AS last_line_id,
       (SELECT array_agg(DISTINCT i.month) FROM inserted i WHERE i.month <> :month) AS other_months,
       CAST(CAST(pg_snapshot_xmin(pg_current_snapshot()) AS text) AS bigint) AS snapshot_xmin,
       (SELECT count(*) FROM carried) AS carried_marked
  FROM inserted"""


# Re-run of the comparison when the bank file is issued: deaths and ended benefits projected by
# transactions the snapshot could not see (xid >= its xmin) drop the run's lines still payable
# (R-DS-2). Driven from those few changes through the never-twice index (month, benefit, person):
# the cost is that of the changes, not of the run's size. ``months``: the run's line_months.
_RUN_LINE = """l.month = ANY(CAST(:months AS date[])) AND l.benefit = ANY(CAST(:benefits AS text[]))
   AND l.status = 'payable' AND l.run_id = CAST(:run_id AS uuid)"""

RECHECK_DEATHS = f"""
UPDATE payment_lines l SET status = 'dropped', drop_reason = 'deceased', dropped_stage = 'bank_file'
  FROM roster_persons p
 WHERE p.deceased_xid >= :since_xid AND l.person_id = p.person_id AND {_RUN_LINE}
   AND p.deceased_on < l.month
RETURNING l.id, l.amount"""

RECHECK_ENDED = f"""
UPDATE payment_lines l
   SET status = 'dropped', dropped_stage = 'bank_file',
       drop_reason = CASE WHEN l.benefit = 'disability_living' THEN 'not_in_dibao' ELSE 'benefit_ended' END
  FROM roster_benefits b
  JOIN roster_benefit_members m ON m.benefit_id = b.benefit_id
 WHERE b.ended_xid >= :since_xid AND l.person_id = m.person_id AND {_RUN_LINE}
   AND l.benefit_id = b.benefit_id AND b.last_month < l.month
RETURNING l.id, l.amount"""

# The bank file's lines (the header and the control line are added around them). Sent lines are
# those payable when the file was issued, whatever the bank answered since, so the file is the
# same every time it is downloaded. Mirrors rules.mask_name, rules.bank_name and rules.line_reference.
# (A simple CASE: the name's length is computed once, twice for names of three characters or more.)
MASKED_NAME = """COALESCE(CASE char_length(l.payee_name) WHEN 0 THEN '' WHEN 1 THEN '*'
            WHEN 2 THEN left(l.payee_name, 1) || '*'
            ELSE left(l.payee_name, 1) || repeat('*', char_length(l.payee_name) - 2) || right(l.payee_name, 1) END, '')"""

# The masked name, '-prefixed when a spreadsheet would read it as a formula (CSV injection,
# OWASP; shared.csvcells.FORMULA_PREFIXES, rules.bank_name). Only this text cell changes: the
# account is digits (validated at entry), the amount a number, the reference ours (QGS…), and the
# control line is written apart, so the bank's machine reading of the file is unaffected.
BANK_NAME = """CASE WHEN left(n.masked, 1) IN ('=', '+', '-', '@', chr(9), chr(13))
            THEN chr(39) || n.masked ELSE n.masked END"""

BANK_FILE_LINES = f"""
SELECT l.bank_account AS account, {BANK_NAME} AS name, l.amount AS amount,
       'QGS' || lpad(CAST(l.id AS text), 12, '0') AS reference
  FROM payment_lines l CROSS JOIN LATERAL (SELECT {MASKED_NAME} AS masked) n
 WHERE l.id BETWEEN $2 AND $3 AND l.run_id = $1 AND l.status IN ('payable', 'paid', 'failed')
 ORDER BY l.id"""
