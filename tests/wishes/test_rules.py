"""Pure policy rules of the wishes service: R-MW-1..4 and R-OA-2 (figures from POLICY.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.wishes import normalise, rules
from shared import regions
from shared.ids import make_id_number

D = Decimal
fen = st.integers(min_value=1, max_value=10**8).map(lambda n: D(n) / 100)


# -- R-MW-1 collection ------------------------------------------------------------------------


def test_the_campaign_is_101_villages_times_5_wishes() -> None:
    assert len(regions.VILLAGES) == rules.CAMPAIGN_VILLAGES == 101
    assert rules.campaign_target(5) == 505
    assert rules.campaign_target(5, 15) == 75


@pytest.mark.parametrize("flag", rules.FAMILY_TYPES)
def test_each_family_type_alone_makes_a_family_eligible(flag: str) -> None:
    facts = rules.FamilyFacts(**{flag: True})
    assert rules.family_types(facts) == (flag,)
    decision = rules.collection_decision(facts, wishes_in_village=0, village_quota=5)
    assert (decision.accepted, decision.code, decision.family_type) == (True, None, flag)
    assert decision.remaining_in_village == 4


def test_a_family_of_no_listed_type_is_not_eligible() -> None:
    decision = rules.collection_decision(rules.FamilyFacts(), wishes_in_village=0, village_quota=5)
    assert (decision.accepted, decision.code, decision.family_type, decision.family_types) == (
        False, "not_eligible", None, ())


def test_the_board_names_the_first_type_in_precedence_order() -> None:
    facts = rules.FamilyFacts(registered_poor=True, dibao=True, child_in_difficulty=True)
    assert rules.family_types(facts) == ("dibao", "registered_poor", "child_in_difficulty")
    assert rules.collection_decision(facts, wishes_in_village=0, village_quota=5).family_type == "dibao"
    assert rules.FAMILY_TYPE_LABELS["dibao"] == "低保户"


@pytest.mark.parametrize(("count", "accepted"), [(0, True), (4, True), (5, False), (6, False)])
def test_at_most_five_wishes_per_village(count: int, accepted: bool) -> None:
    decision = rules.collection_decision(rules.FamilyFacts(dibao=True), wishes_in_village=count, village_quota=5)
    assert decision.accepted is accepted
    assert decision.code == (None if accepted else "village_quota")
    assert decision.remaining_in_village == (4 - count if accepted else 0)


def test_refusals_come_in_order_eligibility_family_quota() -> None:
    poor = rules.FamilyFacts(registered_poor=True)
    assert rules.collection_decision(rules.FamilyFacts(), wishes_in_village=5, village_quota=5,
                                     household_has_wish=True).code == "not_eligible"
    assert rules.collection_decision(poor, wishes_in_village=5, village_quota=5,
                                     household_has_wish=True).code == "household_has_wish"
    assert rules.collection_decision(poor, wishes_in_village=5, village_quota=5).code == "village_quota"


def test_negative_counts_are_a_programming_error() -> None:
    with pytest.raises(ValueError):
        rules.collection_decision(rules.FamilyFacts(dibao=True), wishes_in_village=-1, village_quota=5)


@pytest.mark.parametrize(("benefits", "expected"), [
    (set(), ()),
    ({"dibao"}, ("dibao",)),
    ({"dibao_single_person"}, ("dibao",)),
    ({"tekun"}, ("tekun",)),
    ({"orphan_dispersed"}, ("child_in_difficulty",)),
    ({"orphan_institutional"}, ("child_in_difficulty",)),
    ({"child_without_care"}, ("child_in_difficulty",)),
    ({"revolutionary_veteran"}, ()),
])
def test_benefits_map_to_family_types(benefits: set[str], expected: tuple[str, ...]) -> None:
    facts = rules.facts_from_projection(registered_poor=False, lonely_elderly=False, child_in_difficulty=False,
                                        active_benefits=benefits)
    assert rules.family_types(facts) == expected


def test_household_flags_map_to_family_types() -> None:
    facts = rules.facts_from_projection(registered_poor=True, lonely_elderly=True, child_in_difficulty=True,
                                        active_benefits=frozenset())
    assert rules.family_types(facts) == ("registered_poor", "lonely_elderly", "child_in_difficulty")


@given(st.integers(0, 20), st.integers(1, 20), st.booleans())
def test_quota_property(count: int, quota: int, has_wish: bool) -> None:
    decision = rules.collection_decision(rules.FamilyFacts(tekun=True), wishes_in_village=count,
                                         village_quota=quota, household_has_wish=has_wish)
    assert decision.accepted == (count < quota and not has_wish)
    assert 0 <= decision.remaining_in_village <= quota


# -- R-MW-2 publication -----------------------------------------------------------------------

ID_NUMBER = make_id_number("350505", datetime(1950, 3, 1).date(), 12, "female")


@pytest.mark.parametrize(("text", "kind"), [
    (f"请联系{ID_NUMBER}", "id_number"),
    ("身份证35050519500301012X", "id_number"),
    ("老人电话13812345678", "phone"),
    ("电话 138-1234-5678", "phone"),
    ("+86 13812345678", "phone"),
    ("座机0595-87654321", "phone"),
    ("住南埔镇南埔村3组12号", "address"),
    ("送到前黄镇康街路128号", "address"),
    ("5栋302室", "address"),
])
def test_personal_data_is_found(text: str, kind: str) -> None:
    findings = rules.personal_data_findings(text)
    assert [f.kind for f in findings] == [kind]
    f = findings[0]
    assert 0 <= f.start < f.end <= len(text)


@pytest.mark.parametrize("text", [
    "一台电饭煲", "给孩子买一个书包和 3 本字典", "冬天的棉被两床", "轮椅一辆（折叠式）", "2020年秋季学费",
    "一台 32 寸电视机", "5号电池一盒", "老人需要一台收音机，价格约 150 元",
])
def test_ordinary_wishes_are_publishable(text: str) -> None:
    assert rules.personal_data_findings(text) == []


@pytest.mark.parametrize(("text", "found"), [
    ("电话１３８１２３４５６７８", [("phone", "１３８１２３４５６７８")]),
    ("身份证号35052119860905001２", [("id_number", "35052119860905001２")]),
    ("一三八一二三四五六七八", [("phone", "一三八一二三四五六七八")]),
    ("３５０５２１１９８６０９０５００１２", [("id_number", "３５０５２１１９８６０９０５００１２")]),
    ("户主电话１３８１２３４５６７８ 身份证３５０５２１１９８６０９０５００１２",
     [("phone", "１３８１２３４５６７８"), ("id_number", "３５０５２１１９８６０９０５００１２")]),
    ("壹叁捌壹贰叁肆伍陆柒捌", [("phone", "壹叁捌壹贰叁肆伍陆柒捌")]),
    ("电话１３８\u3000１２３４\u3000５６７８", [("phone", "１３８\u3000１２３４\u3000５６７８")]),
    ("电话 138 - 1234 - 5678", [("phone", "138 - 1234 - 5678")]),
    ("身份证 350521 19860905 0012", [("id_number", "350521 19860905 0012")]),
    ("电话138\u200b1234\u200b5678", [("phone", "138\u200b1234\u200b5678")]),
    ("电话一三八－一二三四－五六七八", [("phone", "一三八－一二三四－五六七八")]),
    ("身份证３５０５２１１９８６０９０５００１Ｘ", [("id_number", "３５０５２１１９８６０９０５００１Ｘ")]),
    ("５栋３０２室", [("address", "５栋３０２室")]),
    ("电话138、1234、5678", [("phone", "138、1234、5678")]),
    ("电话138，1234，5678", [("phone", "138，1234，5678")]),
    ("电话138/1234/5678", [("phone", "138/1234/5678")]),
    ("电话138~1234~5678", [("phone", "138~1234~5678")]),
    ("电话幺三八幺二三四五六七八", [("phone", "幺三八幺二三四五六七八")]),
    ("电话059587654321", [("phone", "059587654321")]),
    ("电话(0595)87654321", [("phone", "0595)87654321")]),
    ("电话١٣٨١٢٣٤٥٦٧٨", [("phone", "١٣٨١٢٣٤٥٦٧٨")]),
])
def test_personal_data_in_full_width_or_chinese_numerals_is_found(text: str, found: list[tuple[str, str]]) -> None:
    assert [(f.kind, text[f.start:f.end]) for f in rules.personal_data_findings(text)] == found


@pytest.mark.parametrize("text", [
    "书包2个", "价格120元", "三年级", "书包2个, 价格120元, 三年级", "书包２个，价格１２０元", "一年级到六年级的课外书",
    "二〇二〇年秋季学费", "棉被 2 床 - 共 3 件", "2020-09-01 开学用", "一三八元的电饭煲",
    "书包2个、文具3套、课外书5本", "价格120元/件，共2件", "幺妹的书包", "2020年9月/10月的学费",
])
def test_ordinary_text_with_numbers_is_publishable(text: str) -> None:
    assert rules.personal_data_findings(text) == []


@pytest.mark.parametrize(("text", "found"), [
    # HTML tags, comments and character references split or spell the digits (R-MW-2 gap 1)
    ("电话138<br>1234<b>5678</b>", [("phone", "138<br>1234<b>5678")]),
    ("电话138&nbsp;1234&#53;678", [("phone", "138&nbsp;1234&#53;678")]),
    ("电话&#x31;&#51;8<!-- x -->1234&#8203;5678", [("phone", "&#x31;&#51;8<!-- x -->1234&#8203;5678")]),
    ("电话１３８<span class=\"n\">１２３４</span>５６７８", [("phone", "１３８<span class=\"n\">１２３４</span>５６７８")]),
    ("电话138&shy;1234&zwj;5678", [("phone", "138&shy;1234&zwj;5678")]),
    ("<p>电话0595<br/>87654321</p>", [("phone", "0595<br/>87654321")]),
    ('<a href="tel:13812345678">电话</a>', [("phone", "13812345678")]),
    ("电话&#13812345678;", [("phone", "13812345678")]),  # not a character: the digits are what is stored
    ("住南埔村&#51;&#53;号", [("address", "住南埔村&#51;&#53;号")]),
    # zero-width and format characters (Cf) and soft hyphens inside a spaced-out number
    ("电话1\u200b3\u200c8 - 12\u00ad34 - 56\u20607\ufeff8",
     [("phone", "1\u200b3\u200c8 - 12\u00ad34 - 56\u20607\ufeff8")]),
    ("电话1 3 8 - 1\u200d234 - 5678", [("phone", "1 3 8 - 1\u200d234 - 5678")]),
    # ID numbers (18 characters, last may be X) split by the same tricks
    ("身份证350521<span>19860905</span>001X", [("id_number", "350521<span>19860905</span>001X")]),
    ("身份证350<b>521198609050012</b>", [("id_number", "350<b>521198609050012")]),
    ("身份证350521&#49;98609050\u200b01&#88;", [("id_number", "350521&#49;98609050\u200b01&#88;")]),
    ("身份证 350521 19860905 001 X", [("id_number", "350521 19860905 001 X")]),
    ("身份证３５０５２１\u00ad１９８６０９０５\u2060００１ｘ", [("id_number", "３５０５２１\u00ad１９８６０９０５\u2060００１ｘ")]),
    # 十 for "10" inside a spelled-out number (R-MW-2 gap 2)
    ("电话一三八十二三四五六七", [("phone", "一三八十二三四五六七")]),
    ("电话壹叁捌拾贰叁肆伍陆柒", [("phone", "壹叁捌拾贰叁肆伍陆柒")]),
    ("电话一三八 十二三四 五六七", [("phone", "一三八 十二三四 五六七")]),
    ("电话一三八<b>十</b>二三四五六七", [("phone", "一三八<b>十</b>二三四五六七")]),
    ("身份证三五〇五二一一九八六十〇五〇〇一二", [("id_number", "三五〇五二一一九八六十〇五〇〇一二")]),
    # R-MW-2 gap 3: brackets, hidden elements, quoted ">", sloppy tags, escaped brackets
    ("电话 <138>12345678", [("phone", "138>12345678")]),  # "<1" is text in HTML, the brackets only split
    ("电话 &lt;138&gt;12345678", [("phone", "138&gt;12345678")]),
    ("电话【138】12345678", [("phone", "138】12345678")]),
    ("1<script>x</script>3812345678", [("phone", "1<script>x</script>3812345678")]),
    ("1<style>b{}</style>3812345678", [("phone", "1<style>b{}</style>3812345678")]),
    ("1<SCRIPT type='a>b'>x</SCRIPT >3812345678", [("phone", "1<SCRIPT type='a>b'>x</SCRIPT >3812345678")]),
    ("1<noscript>3812345678</noscript>", [("phone", "1<noscript>3812345678")]),  # shown without scripts
    ("1<b title='a>b'>3</b>812345678", [("phone", "1<b title='a>b'>3</b>812345678")]),
    ('1<b title="a>b">3812345678', [("phone", '1<b title="a>b">3812345678')]),
    ("1< b >3812345678", [("phone", "1< b >3812345678")]),
    ("1<!38>3812345678", [("phone", "1<!38>3812345678")]),  # a bogus comment: not shown
    # invisible characters that are not Cf: default-ignorable code points, combining marks, braille blank
    ("1\u034f3812345678", [("phone", "1\u034f3812345678")]),
    ("1\u3164 3812345678", [("phone", "1\u3164 3812345678")]),
    ("电话1\u115f38\u11601234\uffa05678", [("phone", "1\u115f38\u11601234\uffa05678")]),
    ("电话138\u28001234\u28005678", [("phone", "138\u28001234\u28005678")]),
    ("电话1\u03013\ufe0f8\u20e312345678", [("phone", "1\u03013\ufe0f8\u20e312345678")]),
    ("身份证350521\u034f19860905\u3164001X", [("id_number", "350521\u034f19860905\u3164001X")]),
    # 十 as a teen inside a spelled-out number (十一 = 11)
    ("手机一三八一二三四五六十一", [("phone", "一三八一二三四五六十一")]),
    ("电话一三五十二三四五六七八", [("phone", "一三五十二三四五六七八")]),
    ("电话壹叁伍拾贰叁肆伍陆柒捌", [("phone", "壹叁伍拾贰叁肆伍陆柒捌")]),
])
def test_personal_data_hidden_by_markup_or_invisible_characters_is_found(
    text: str, found: list[tuple[str, str]],
) -> None:
    assert [(f.kind, text[f.start:f.end]) for f in rules.personal_data_findings(text)] == found


@pytest.mark.parametrize(("text", "view"), [
    ("五十元", "5十元"), ("第十个", "第十个"), ("十斤大米", "十斤大米"), ("二〇二六年十一月三十日", "2026年十1月3十日"),
    ("一二三四五六十", "123456十"),  # six digits besides 十: a number word still
    ("一二三四五六七十", "123456710"),  # seven: a spelled-out number, 十 is "10"
    ("一三八十二三四五六七", "13810234567"), ("１３８－十２３４－５６７", "138-10234-567"),
])
def test_ten_is_10_only_in_a_run_of_at_least_seven_digits(text: str, view: str) -> None:
    """R-MW-2: 十 between numerals is read as "10" only where the run already looks like a number."""
    assert normalise.folded(text)[0] == view


@pytest.mark.parametrize(("text", "view"), [
    ("一三五十二三四五六七八", "13512345678"), ("一三八一二三四五六十一", "13812345611"),
    ("一二三四五六七十", "123456710"),  # no numeral after 十: "10" still
    ("一三五 十 二三四五六七八", "135 1 2345678"), ("十一月三十日", "十1月3十日"), ("双十一", "双十1"),
])
def test_ten_before_a_numeral_reads_as_a_teen_in_the_teens_view(text: str, view: str) -> None:
    """R-MW-2: the second reading of 十 (十一 = 11), again only inside a run of seven digits or more."""
    assert normalise.folded(text, teens=True)[0] == view


@pytest.mark.parametrize(("text", "browser", "lenient"), [
    ("电话 <138>12345678", "电话 <13812345678", "电话 <13812345678"),  # "<1" is text, the brackets split
    ("电话 &lt;138&gt;12345678", "电话 <13812345678", "电话 <13812345678"),
    ("1<script>x</script>38", "138", "1x38"), ("1<style>x</style>38", "138", "1x38"),
    ("1<noscript>x</noscript>38", "138", "1x38"), ("1<template>x</template>38", "138", "1x38"),
    ("1<b title='a>b'>3</b>8", "138", "1b'>38"), ("1< b >38", "1< b >38", "138"),
    ("价格<100元", "价格<100元", "价格<100元"), ("1<script>x", "1", "1x"), ("1<!-- a -->3<?x>8", "138", "138"),
])
def test_the_rendered_views_drop_what_a_browser_or_a_sloppy_reader_does_not_show(
    text: str, browser: str, lenient: str,
) -> None:
    """R-MW-2: markup a browser hides (tags, comments, script/style/template/noscript content) is
    dropped in the browser view; the lenient view drops anything tag-like and keeps element content."""
    assert normalise.compact(text)[0] == browser
    assert normalise.compact(text, lenient=True)[0] == lenient


@pytest.mark.parametrize("ch", ["\u00ad", "\u034f", "\u115f", "\u1160", "\u180e", "\u200b", "\u2060", "\u2800",
                                "\u3164", "\ufe0f", "\ufeff", "\uffa0", "\U000e0041", "\u0301", "\u20e3"])
def test_invisible_characters_are_dropped_from_every_view(ch: str) -> None:
    text = f"13{ch}8"
    assert all(view[0] == "138" for view in normalise.views(text)), ch
    assert normalise.compact(text)[1] == [(0, 1), (1, 2), (3, 4)]


def test_a_view_maps_every_character_back_to_what_the_officer_typed() -> None:
    text = "a&nbsp;<b>十</b>一二三四五六七"
    chars, spans = normalise.compact(text)
    assert chars == "a 101234567"
    assert [text[s:e] for s, e in spans] == ["a", "&nbsp;", "十", "十", *"一二三四五六七"]
    assert normalise.folded(text)[0] == "a&nbsp;<b>十</b>1234567"  # markup as typed (the tag splits the run)


@pytest.mark.parametrize("text", [
    "十斤大米", "第十个书包", "五十元的棉被", "三十五岁", "十二月送到", "二〇二六年十一月三十日", "一二三四五六七八九十数字卡片",
    "2026年11月30日前送到", "2026-11-30", "2026.11.01-2026.11.30", "价格¥1,280.50", "大米10斤、食用油5升",
    "1、2、3", "三年级二班", "初二（3）班", "高三学生的复习资料", "ISBN 978-7-5442-5399-4 的字典", "ISBN 7-5442-5399-X",
    "上午10:30送到", "<p>书包2个</p><p>价格120元</p>", "书包2个<br>文具3套", "价格&lt;200元", "价格<100元的台灯",
    "1<br>2<br>3<br>4<br>5", "AT&T 手机壳一个", "电饭煲&nbsp;1台\u200b", "一、二、三、四、五、六、七、八、九、十",
    "双十一", "一百二十元", "第十个", "十二月", "十一月", "双十一买的一百二十元的棉被", "《新华字典》2本【第12版】",
    "<script>alert(1)</script>书包2个", "价格<100元>50元", "一二三四五六七八九十一", "1 < 2 < 3",
])
def test_ordinary_text_with_markup_or_ten_is_publishable(text: str) -> None:
    assert rules.personal_data_findings(text) == []


_GLUE = st.sampled_from(["", " ", "-", " - ", "、", "<br>", "<b>", "</b>", '<span class="n">', "<!-- x -->", "&nbsp;",
                         "&#8203;", "&shy;", "&zwnj;", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"])


def _spelled(draw: st.DrawFn, number: str) -> str:
    """``number`` with each digit in one of its written forms and some glue between the digits."""
    forms = [lambda d: d, lambda d: chr(ord(d) + 0xFEE0), lambda d: "〇一二三四五六七八九"[int(d)] if d.isdigit() else d,
             lambda d: f"&#{ord(d)};", lambda d: f"&#x{ord(d):x};"]
    glued = [draw(st.sampled_from(forms))(d) + "".join(draw(st.lists(_GLUE, max_size=2))) for d in number[:-1]]
    return "".join(glued) + draw(st.sampled_from(forms))(number[-1])


@settings(max_examples=300)
@given(st.data(), st.sampled_from([("13812345678", "phone"), ("059587654321", "phone"),
                                   ("35052119860905001X", "id_number"), (ID_NUMBER, "id_number")]))
def test_no_mix_of_forms_and_glue_hides_a_number(data: st.DataObject, case: tuple[str, str]) -> None:
    number, kind = case
    spelled = data.draw(st.composite(lambda draw: _spelled(draw, number))())
    text = f"联系{spelled}。"
    assert [(f.kind, text[f.start:f.end]) for f in rules.personal_data_findings(text)] == [(kind, spelled)]


def test_an_id_number_is_not_also_reported_as_a_phone() -> None:
    findings = rules.personal_data_findings(f"{ID_NUMBER} 13812345678")
    assert [f.kind for f in findings] == ["id_number", "phone"]


def test_the_board_fields_hold_nothing_personal() -> None:
    assert not set(rules.BOARD_FIELDS) & rules.FORBIDDEN_PUBLIC_KEYS
    assert {"village", "family_type", "title", "cost", "pledged", "status"} <= set(rules.BOARD_FIELDS)


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_every_valid_id_number_is_found(digits: str) -> None:
    # Any 18-character number with a check character counts, valid checksum or not.
    assert [f.kind for f in rules.personal_data_findings(f"号码{digits}X号码")] == ["id_number"]


# -- R-MW-3 adoption --------------------------------------------------------------------------


def test_the_acceptance_race_wish_of_200() -> None:
    """wishes.json: wish of 200.00; A pledges 150.00; B and C each 50.00 — exactly one succeeds."""
    a = rules.evaluate_pledge(cost=D("200.00"), pledged=D("0.00"), amount=D("150.00"))
    assert (a.accepted, a.pledged_after, a.open_amount, a.fully_pledged) == (True, D("150.00"), D("50.00"), False)
    b = rules.evaluate_pledge(cost=D("200.00"), pledged=a.pledged_after, amount=D("50.00"))
    assert (b.accepted, b.pledged_after, b.open_amount, b.fully_pledged) == (True, D("200.00"), D("0.00"), True)
    c = rules.evaluate_pledge(cost=D("200.00"), pledged=b.pledged_after, amount=D("50.00"), status="fully_pledged")
    assert (c.accepted, c.code, c.open_amount, c.pledged_after) == (False, "over_pledged", D("0.00"), D("200.00"))


def test_an_over_pledge_says_how_much_is_open() -> None:
    outcome = rules.evaluate_pledge(cost=D("200.00"), pledged=D("150.00"), amount=D("50.01"))
    assert (outcome.accepted, outcome.code, outcome.open_amount, outcome.pledged_after) == (
        False, "over_pledged", D("50.00"), D("150.00"))


def test_no_amount_pledges_the_rest_of_the_wish() -> None:
    outcome = rules.evaluate_pledge(cost=D("88.80"), pledged=D("20.00"), amount=None)
    assert (outcome.accepted, outcome.amount, outcome.pledged_after, outcome.fully_pledged) == (
        True, D("68.80"), D("88.80"), True)


@pytest.mark.parametrize("status", ["submitted", "rejected", "delivered", "confirmed", "closed"])
def test_only_published_wishes_take_pledges(status: str) -> None:
    outcome = rules.evaluate_pledge(cost=D("100.00"), pledged=D("0.00"), amount=D("1.00"), status=status)
    assert (outcome.accepted, outcome.code) == (False, "wish_not_open")


@pytest.mark.parametrize("amount", [D("0"), D("-1.00"), D("0.001")])
def test_bad_amounts_are_refused(amount: Decimal) -> None:
    with pytest.raises(ValueError):
        rules.evaluate_pledge(cost=D("100.00"), pledged=D("0.00"), amount=amount)


def test_an_inconsistent_wish_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        rules.evaluate_pledge(cost=D("100.00"), pledged=D("100.01"), amount=D("1.00"))


@settings(max_examples=300)
@given(fen, st.lists(fen, min_size=1, max_size=40))
def test_pledges_never_exceed_the_cost(cost: Decimal, offers: list[Decimal]) -> None:
    """Whatever the order of offers, the total accepted stays within the cost, and each refusal
    is exactly an offer larger than what is open at that moment."""
    pledged = D("0.00")
    for offer in offers:
        outcome = rules.evaluate_pledge(cost=cost, pledged=pledged, amount=offer,
                                        status="fully_pledged" if pledged == cost else "published")
        assert outcome.accepted == (offer <= cost - pledged)
        if outcome.accepted:
            assert outcome.pledged_after == pledged + offer
            pledged = outcome.pledged_after
        else:
            assert outcome.open_amount == cost - pledged
        assert D("0") <= pledged <= cost
        assert outcome.fully_pledged == (pledged == cost)


def test_a_request_names_each_wish_once() -> None:
    lines = [rules.PledgeLine(1, None), rules.PledgeLine(2, D("5")), rules.PledgeLine(1, D("1"))]
    assert rules.pledge_request_problems(lines, max_lines=50) == [(2, "duplicate_wish")]
    assert rules.pledge_request_problems(lines[:2], max_lines=1) == [(1, "too_many_wishes")]
    assert rules.pledge_request_problems(lines[:2], max_lines=50) == []


# -- R-MW-4 fulfilment ------------------------------------------------------------------------

PLEDGED_AT = datetime(2020, 6, 15, 1, 0, tzinfo=UTC)  # 09:00 in Quanzhou


def test_a_pledge_expires_30_days_after_it_was_made() -> None:
    expires = rules.pledge_expires_at(PLEDGED_AT, 30)
    assert expires == datetime(2020, 7, 15, 1, 0, tzinfo=UTC)
    assert not rules.pledge_expired(status="active", expires_at=expires, now=expires - timedelta(seconds=1))
    assert rules.pledge_expired(status="active", expires_at=expires, now=expires)
    assert rules.pledge_expired(status="active", expires_at=expires, now=expires + timedelta(days=1))


@pytest.mark.parametrize("status", ["delivered", "fulfilled", "expired"])
def test_only_an_active_pledge_expires(status: str) -> None:
    expires = rules.pledge_expires_at(PLEDGED_AT, 30)
    assert not rules.pledge_expired(status=status, expires_at=expires, now=expires + timedelta(days=365))


def test_expiry_needs_an_aware_time_and_a_positive_period() -> None:
    with pytest.raises(ValueError):
        rules.pledge_expires_at(datetime(2020, 6, 15), 30)
    with pytest.raises(ValueError):
        rules.pledge_expires_at(PLEDGED_AT, 0)


def test_the_life_of_a_wish() -> None:
    t = rules.WISH_TRANSITIONS
    status = "submitted"
    for action, expected in [("publish", "published"), ("fully_pledge", "fully_pledged"), ("reopen", "published"),
                             ("fully_pledge", "fully_pledged"), ("deliver", "delivered"), ("confirm", "confirmed"),
                             ("close", "closed")]:
        status = rules.next_status(t, action, status)
        assert status == expected
    assert rules.next_status(t, "reject", "submitted") == "rejected"


@pytest.mark.parametrize(("action", "status"), [
    ("publish", "published"), ("reject", "published"), ("deliver", "published"), ("confirm", "fully_pledged"),
    ("close", "delivered"), ("publish", "closed"), ("fly", "submitted"),
])
def test_impossible_wish_transitions(action: str, status: str) -> None:
    with pytest.raises(rules.InvalidTransition) as caught:
        rules.next_status(rules.WISH_TRANSITIONS, action, status)
    assert caught.value.code == "invalid_status"


def test_the_life_of_a_pledge() -> None:
    t = rules.PLEDGE_TRANSITIONS
    assert rules.next_status(t, "deliver", "active") == "delivered"
    assert rules.next_status(t, "fulfil", "delivered") == "fulfilled"
    assert rules.next_status(t, "expire", "active") == "expired"
    for action, status in [("expire", "delivered"), ("deliver", "expired"), ("fulfil", "active")]:
        with pytest.raises(rules.InvalidTransition):
            rules.next_status(t, action, status)


def test_a_wish_is_delivered_when_nothing_awaits_delivery() -> None:
    assert rules.wish_delivered(status="fully_pledged", active_pledges=0)
    assert not rules.wish_delivered(status="fully_pledged", active_pledges=1)
    assert not rules.wish_delivered(status="published", active_pledges=0)


def test_an_expired_pledge_puts_a_fully_pledged_wish_back_on_the_board() -> None:
    assert rules.status_after_expiry(status="fully_pledged", cost=D("200"), pledged_after=D("50")) == "published"
    assert rules.status_after_expiry(status="published", cost=D("200"), pledged_after=D("0")) == "published"


# -- R-OA-2 阳光1+1 ----------------------------------------------------------------------------


def test_pairing_checks_in_order() -> None:
    assert rules.pairing_check(old_area_village=True, organization_active=True, already_paired=False).allowed
    assert rules.pairing_check(old_area_village=False, organization_active=False,
                               already_paired=True).code == "not_old_area_village"
    assert rules.pairing_check(old_area_village=True, organization_active=False,
                               already_paired=True).code == "organization_inactive"
    assert rules.pairing_check(old_area_village=True, organization_active=True,
                               already_paired=True).code == "already_paired"


def test_pairing_and_project_lives() -> None:
    assert rules.next_status(rules.PAIRING_TRANSITIONS, "suspend", "active") == "suspended"
    assert rules.next_status(rules.PAIRING_TRANSITIONS, "resume", "suspended") == "active"
    assert rules.next_status(rules.PAIRING_TRANSITIONS, "end", "suspended") == "ended"
    assert rules.next_status(rules.PROJECT_TRANSITIONS, "start", "planned") == "in_progress"
    assert rules.next_status(rules.PROJECT_TRANSITIONS, "complete", "in_progress") == "completed"
    with pytest.raises(rules.InvalidTransition):
        rules.next_status(rules.PROJECT_TRANSITIONS, "complete", "planned")
    with pytest.raises(rules.InvalidTransition):
        rules.next_status(rules.PAIRING_TRANSITIONS, "resume", "ended")


@pytest.mark.parametrize("code", ["91350100M000100Y43", "91110000600037341L", "51350505MJD123456X"])
def test_credit_code_check_character(code: str) -> None:
    # The first two are published codes; the third is built here with its computed check.
    if code.startswith("51"):
        code = code[:17] + rules.credit_code_check_character(code[:17])
    assert rules.valid_credit_code(code)
    wrong = code[:17] + ("0" if code[17] != "0" else "1")
    assert not rules.valid_credit_code(wrong)


def test_credit_code_shape() -> None:
    assert not rules.valid_credit_code("91350100M000100Y4")  # 17 characters
    assert not rules.valid_credit_code("91350100M000100I43")  # I is not in the alphabet
    with pytest.raises(ValueError):
        rules.credit_code_check_character("ABC")
