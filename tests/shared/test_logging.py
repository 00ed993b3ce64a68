"""shared.logging: personal data never reaches a log line."""

import io
import json

import structlog
from hypothesis import given
from hypothesis import strategies as st

from shared.ids import make_id_number
from shared.logging import MASK, configure_logging, mask_personal_data, mask_text
from datetime import date


def test_id_numbers_phones_and_addresses_are_masked_in_free_text() -> None:
    text = "申请人 350505198001011234 电话 13905951234 住 泉港区南埔镇南埔村5组12号 座机 0595-87654321"
    masked = mask_text(text)
    assert "350505198001011234" not in masked
    assert "13905951234" not in masked
    assert "0595-87654321" not in masked
    assert "12号" not in masked
    assert masked.count(MASK) == 4


def test_sensitive_keys_are_masked_whatever_their_value() -> None:
    event = mask_personal_data(None, "info", {"event": "x", "id_number": "abc", "address": "somewhere", "phone": "1", "amount": "720.00"})
    assert event == {"event": "x", "id_number": MASK, "address": MASK, "phone": MASK, "amount": "720.00"}


def test_nested_values_are_masked() -> None:
    event = mask_personal_data(None, "info", {"event": "x", "rows": [{"note": "ID 11010519491231002X"}]})
    assert event["rows"][0]["note"] == f"ID {MASK}"


def test_amounts_dates_and_uuids_survive() -> None:
    text = "amount 1326.58 on 2020-06-15 case 3f2a6c1e-0000-4000-8000-000000000001 code 350505100"
    assert mask_text(text) == text


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2020, 12, 31)), st.integers(0, 499), st.sampled_from(["male", "female"]))
def test_every_valid_id_number_is_masked(birth: date, seq: int, sex: str) -> None:
    number = make_id_number("350505", birth, seq, sex)
    assert number not in mask_text(f"person {number} registered")


def test_configured_logger_writes_json_without_personal_data(capsys) -> None:
    configure_logging("test", "INFO")
    structlog.get_logger("t").info("eligibility.person.registered", id_number="350505198001011234", note="tel 13905951234")
    line = capsys.readouterr().out.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["event"] == "eligibility.person.registered"
    assert record["id_number"] == MASK
    assert "13905951234" not in line and "350505198001011234" not in line
    assert record["service"] == "test"


_TEXT = st.text(alphabet="0123456789-+ Xx号组村路镇南埔abc王", max_size=40)


@given(st.dictionaries(
    st.sampled_from(["event", "note", "phone", "Address", "id_number", "amount", "rows", "n", "name"]),
    st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.booleans(), _TEXT,
              st.lists(_TEXT, max_size=3), st.dictionaries(st.sampled_from(["tel", "x"]), _TEXT, max_size=2)),
))
def test_the_processor_masks_exactly_as_masking_each_value(event: dict) -> None:
    from shared.logging import _mask

    assert mask_personal_data(None, "info", dict(event)) == {k: _mask(v, k) for k, v in event.items()}
    for value in event.values():
        if isinstance(value, str):
            # The quick pre-check never lets through what the full patterns would mask.
            from shared.logging import _ADDRESS_RE, _ID_RE, _PHONE_RE

            if not any(p.search(value) for p in (_ID_RE, _PHONE_RE, _ADDRESS_RE)):
                assert mask_text(value) == value
            else:
                assert MASK in mask_text(value)
