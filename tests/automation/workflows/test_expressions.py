"""The condition language: results, precedence, data problems that must not crash, and refused attacks."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rentguy_crm.automation.workflows.expressions import (
    MAX_DEPTH,
    MAX_LENGTH,
    ExpressionError,
    check,
    evaluate,
    is_true,
    referenced_names,
    resolve_until,
)

VARS: dict[str, Any] = {
    "deal": {"value": 7500, "event_date": "2026-06-13", "stage": "proposal_sent", "tags": ["vip", "outdoor"]},
    "lead": {"event_type": "bruiloft", "priority": "high", "source": "Website", "guests": "120"},
}
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("expression", "expected"), [
    ("deal.value > 5000 and lead.event_type == \"bruiloft\"", True),
    ("deal.value > 5000 and lead.event_type == 'bedrijfsfeest'", False),
    ("deal.value < 5000 or lead.priority == 'high'", True),
    ("deal.value < 5000 or lead.priority == 'low'", False),
    ("not lead.priority == 'low'", True),
    ("not (deal.value > 5000 and lead.priority == 'high')", False),
    ("lead.event_type in ['bruiloft', 'feest']", True),
    ("lead.event_type not in ['bruiloft', 'feest']", False),
    ("'vip' in deal.tags", True),
    ("'brui' in lead.event_type", True),
    ("lower(lead.source) == 'website'", True),
    ("upper(lead.source) == 'WEBSITE'", True),
    ("len(deal.tags) == 2", True),
    ("deal.value >= 7500 and deal.value <= 7500", True),
    ("deal.value != 7500", False),
    ("lead.guests > 100", True),
])
def test_conditions_evaluate_against_nested_dicts(expression: str, expected: bool) -> None:
    assert evaluate(expression, VARS) is expected


@pytest.mark.parametrize(("left", "right", "op", "expected"), [
    (a, b, op, res)
    for a in (True, False) for b in (True, False)
    for op, res in (("and", a and b), ("or", a or b))
])
def test_boolean_operators_follow_their_truth_table(left: bool, right: bool, op: str, expected: bool) -> None:
    assert evaluate(f"a {op} b", {"a": left, "b": right}) is expected


@pytest.mark.parametrize(("expression", "expected"), [
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("10 - 4 - 3", 3),
    ("12 / 4 / 3", 1),
    ("-2 * 3", -6),
    ("not true or true", True),
    ("not (true or true)", False),
    ("true or true and false", True),
    ("(true or true) and false", False),
    ("1 + 1 == 2 and 2 * 2 == 4", True),
    ("not 1 + 1 == 3", True),
])
def test_operators_bind_with_the_documented_precedence(expression: str, expected: Any) -> None:
    assert evaluate(expression, {}) == expected


def test_missing_attributes_evaluate_to_null() -> None:
    assert evaluate("deal.contact.email", VARS) is None
    assert evaluate("nothing.at.all", VARS) is None
    assert evaluate("lead.event_type.length", VARS) is None  # attribute of a string is missing, not an error
    assert evaluate("deal.contact == null", VARS) is True


@pytest.mark.parametrize("expression", [
    "lead.missing > 5", "lead.missing < 5", "'abc' > 5", "deal.tags > 1", "5 in lead.missing",
    "5 not in lead.missing", "deal.event_date > 5",
])
def test_comparisons_between_wrong_types_are_false(expression: str) -> None:
    assert evaluate(expression, VARS) is False


@pytest.mark.parametrize("expression", ["lead.missing + 1", "'a' - 1", "1 / 0", "deal.tags * 2", "-'a'"])
def test_arithmetic_on_wrong_types_gives_null(expression: str) -> None:
    assert evaluate(expression, VARS) is None


def test_numeric_strings_compare_as_numbers_and_decimals_are_exact() -> None:
    assert evaluate("deal.value == 7500", {"deal": {"value": "7500.00"}}) is True
    assert evaluate("0.1 + 0.2 == 0.3", {}) is True
    assert evaluate("x > 1", {"x": decimal.Decimal("1.5")}) is True


def test_is_true_treats_null_as_false() -> None:
    assert is_true("lead.missing", VARS) is False
    assert is_true("lead.priority", VARS) is True


def test_days_until_counts_calendar_days_from_now() -> None:
    assert evaluate("days_until(deal.event_date)", VARS, now=NOW) == 12
    assert evaluate("days_until(deal.event_date) < 14", VARS, now=NOW) is True
    assert evaluate("days_until(lead.missing)", VARS, now=NOW) is None


def test_referenced_names_lists_top_level_variables() -> None:
    assert referenced_names("deal.value > 5 and lower(lead.x) in [contact.y]") == {"deal", "lead", "contact"}


# --- wait until ---------------------------------------------------------------------------------------------

def test_until_a_date_plus_a_day_is_midnight_local_time() -> None:
    moment = resolve_until("deal.event_date + 1 day", VARS, "Europe/Amsterdam")
    assert moment == dt.datetime(2026, 6, 13, 22, 0, tzinfo=dt.UTC)  # 14 June 00:00 CEST


def test_until_with_hours_gives_a_time_of_day() -> None:
    moment = resolve_until("deal.event_date - 2 days + 9 hours", VARS, "Europe/Amsterdam")
    assert moment == dt.datetime(2026, 6, 11, 7, 0, tzinfo=dt.UTC)  # 11 June 09:00 CEST


def test_until_accepts_short_units_and_datetimes() -> None:
    variables = {"deal": {"event_date": dt.datetime(2026, 1, 10, 20, 0, tzinfo=dt.UTC)}}
    assert resolve_until("deal.event_date + 90m", variables, "Europe/Amsterdam") == \
        dt.datetime(2026, 1, 10, 21, 30, tzinfo=dt.UTC)


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=dt.UTC)


@pytest.mark.parametrize("event_date", [dt.date(2027, 3, 27), "2027-03-27"])  # a date row, or JSON text
def test_until_the_day_after_an_event_before_spring_forward_is_10_local_time(event_date: Any) -> None:
    variables = {"deal": {"event_date": event_date}}
    assert resolve_until("deal.event_date + 1 day + 10 hours", variables, "Europe/Amsterdam") == utc(2027, 3, 28, 8)


def test_until_the_day_after_an_event_before_fall_back_is_10_local_time() -> None:
    variables = {"deal": {"event_date": dt.date(2027, 10, 30)}}
    assert resolve_until("deal.event_date + 1 day + 10 hours", variables, "Europe/Amsterdam") == \
        utc(2027, 10, 31, 9)
    assert resolve_until("deal.event_date + 34 hours", variables, "Europe/Amsterdam") == utc(2027, 10, 31, 9)


def test_until_reads_the_zone_of_the_variables_tenant_by_default() -> None:
    variables = {"deal": {"event_date": dt.date(2027, 10, 2)}, "tenant": {"timezone": "Australia/Sydney"}}
    assert resolve_until("deal.event_date + 1 day + 10 hours", variables) == utc(2027, 10, 2, 23)


def test_a_moment_plus_a_day_keeps_its_local_clock_time_and_plus_hours_is_elapsed() -> None:
    variables = {"lead": {"created_at": utc(2027, 3, 27, 9)}}  # Saturday 10:00 CET
    assert resolve_until("lead.created_at + 1 day", variables, "Europe/Amsterdam") == utc(2027, 3, 28, 8)
    assert resolve_until("lead.created_at + 24 hours", variables, "Europe/Amsterdam") == utc(2027, 3, 28, 8)
    assert resolve_until("lead.created_at + 1 day + 0.5 hours", variables, "Europe/Amsterdam") == \
        utc(2027, 3, 28, 8, 30)
    assert resolve_until("lead.created_at - 1 day", {"lead": {"created_at": utc(2027, 3, 28, 8)}},
                         "Europe/Amsterdam") == utc(2027, 3, 27, 9)


def test_a_time_without_an_offset_is_local_time() -> None:
    variables = {"deal": {"starts": "2027-06-12T20:00:00"}}
    assert resolve_until("deal.starts", variables, "Europe/Amsterdam") == utc(2027, 6, 12, 18)


def test_dates_and_moments_compare_in_the_tenants_zone() -> None:
    variables = {"deal": {"event_date": "2027-03-28"}, "lead": {"created_at": "2027-03-27T23:30:00+00:00"},
                 "tenant": {"timezone": "Europe/Amsterdam"}}
    # 23:30 UTC on the 27th is 00:30 on the 28th in Amsterdam: after the event date's local midnight.
    assert is_true("lead.created_at >= deal.event_date", variables)
    assert evaluate("date(lead.created_at)", variables) == dt.date(2027, 3, 28)
    assert evaluate("days_until(deal.event_date)", variables, now=utc(2027, 3, 27, 23, 30)) == 0
    assert evaluate("days_until(deal.event_date)", variables, now=utc(2027, 3, 27, 22, 30)) == 1


def test_an_unknown_time_zone_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError):
        resolve_until("deal.event_date", VARS, "Mars/Olympus_Mons")


def test_until_of_a_missing_date_is_none() -> None:
    assert resolve_until("deal.missing + 1 day", VARS, "Europe/Amsterdam") is None


def test_until_that_is_not_a_date_is_an_error() -> None:
    with pytest.raises(ExpressionError):
        resolve_until("deal.value + 1", VARS, "Europe/Amsterdam")


# --- mistakes and attacks -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("expression", "position"), [
    ("deal.value >", 12),
    ("deal.value > > 5", 13),
    ("lead.x == 'open", 10),
    ("a && b", 2),
    ("a < b < c", 6),
    ("shout(lead.x)", 0),
    ("len(a, b)", 0),
    ("", 0),
    ("(a", 2),
    ("a b", 2),
])
def test_syntax_errors_name_the_position(expression: str, position: int) -> None:
    with pytest.raises(ExpressionError) as caught:
        check(expression)
    assert caught.value.position == position


@pytest.mark.parametrize("attack", [
    "__import__('os').system('id')",
    "lead.__class__",
    "lead.__class__.__mro__",
    "().__class__.__bases__",
    "lambda: 1",
    "[x for x in lead]",
    "{x: 1 for x in lead}",
    "lead['__class__']",
    "lead[0]",
    "lead.get('x')",
    "eval('1')",
    "exec('1')",
    "open('/etc/passwd')",
    "getattr(lead, 'x')",
    "a if b else c",
    "a := 1",
    "f'{a}'",
    "a ** 99999",
    "`a`",
    "a; b",
    "_private",
])
def test_anything_beyond_the_language_is_refused(attack: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(attack, {"lead": {"x": 1}, "a": 1, "b": 2})


def test_very_long_expressions_are_refused() -> None:
    with pytest.raises(ExpressionError) as caught:
        check("a or " * (MAX_LENGTH // 5) + "a")
    assert "longer than" in caught.value.message


@pytest.mark.parametrize("deep", ["(" * 200 + "1" + ")" * 200, "not " * 200 + "a", "-" * 200 + "1",
                                  "[" * 200 + "]" * 200, "len(" * 100 + "a" + ")" * 100])
def test_deep_nesting_is_refused_with_an_expression_error(deep: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        check(deep)
    assert "nested too deeply" in caught.value.message


def test_nesting_up_to_the_limit_is_fine() -> None:
    depth = MAX_DEPTH - 2
    assert evaluate("(" * depth + "1" + ")" * depth, {}) == 1


def test_a_huge_duration_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError):
        check("a + 99999999999999999999999 days")


def test_non_text_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError):
        check(42)  # type: ignore[arg-type]


_ALPHABET = st.sampled_from([
    *"abdelnort_.()[]'\"=!<>+-*/ ,0123456789\\&|:;{}",
    " and ", " or ", " not ", " in ", "lead", "deal.value", "days", "day", "len(", "lower(", "true", "null",
])
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5) | st.dates(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(["value", "x"]), children,
                                                                     max_size=2),
    max_leaves=6,
)


@settings(max_examples=400, deadline=None)
@given(text=st.lists(_ALPHABET, max_size=25).map("".join),
       variables=st.dictionaries(st.sampled_from(["lead", "deal", "a"]), _VALUES, max_size=3))
def test_arbitrary_input_raises_nothing_but_expression_error(text: str, variables: dict[str, Any]) -> None:
    try:
        evaluate(text, variables, now=NOW)
        resolve_until(text, variables, "Europe/Amsterdam", now=NOW)
    except ExpressionError:
        pass


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=60))
def test_arbitrary_text_raises_nothing_but_expression_error(text: str) -> None:
    try:
        evaluate(text, {"lead": {"x": 1}})
    except ExpressionError:
        pass
