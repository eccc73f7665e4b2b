"""The condition language: the seed's example, precedence, types, missing variables, and errors with positions."""

from __future__ import annotations

from typing import Any

import pytest

from programs.conditions import ConditionError, parse_condition

SEED_EXAMPLE = "knowledge_context_available AND personality_enhanced AND user_engagement_score > 0.8"


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (
            {"knowledge_context_available": True, "personality_enhanced": True, "user_engagement_score": 0.9},
            True,
        ),
        (
            {"knowledge_context_available": True, "personality_enhanced": True, "user_engagement_score": 0.8},
            False,
        ),
        (
            {"knowledge_context_available": False, "personality_enhanced": True, "user_engagement_score": 1},
            False,
        ),
        ({}, False),
    ],
)
def test_the_seed_example(variables: dict[str, Any], expected: bool) -> None:
    assert parse_condition(SEED_EXAMPLE).evaluate(variables) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("true OR false AND false", True),  # AND binds tighter than OR
        ("(true OR false) AND false", False),
        ("NOT false AND true", True),
        ("not not true", True),
        ("1 < 2 AND 2 <= 2 AND 3 > 2 AND 3 >= 3 AND 1 != 2 AND 1 == 1 AND 1 = 1.0", True),
        ('"Sleep" == "sleep"', True),  # text compares case-blind
        ('"I sleep badly" contains "SLEEP"', True),
        ('"abc" contains null', False),
        ("'single quotes' == \"single quotes\"", True),
        ('"say \\"hi\\"" contains "\\"hi\\""', True),
        (".5 < 1", True),
    ],
)
def test_operators_precedence_and_literals(source: str, expected: bool) -> None:
    assert parse_condition(source).evaluate({}) is expected


def test_dotted_variables_numbers_typed_as_text_and_lists() -> None:
    variables = {"answer": {"progress": "4", "mood": "Tired"}, "tags": ["vip", "new"], "day": 7}
    condition = parse_condition('answer.progress >= 4 AND answer.mood == "tired" AND tags contains "vip"')

    assert condition.evaluate(variables) is True
    assert condition.variables == ["answer.progress", "answer.mood", "tags"]
    assert parse_condition("answer.progress > day").evaluate(variables) is False


def test_a_missing_variable_is_null_and_reported() -> None:
    condition = parse_condition("answer.goal == null AND NOT (streak > 3)")

    assert condition.evaluate({}) is True
    assert condition.missing({"answer": {}}) == ["answer.goal", "streak"]
    assert parse_condition("streak < 3").evaluate({}) is False  # no order with null
    assert parse_condition('"text" > 3').evaluate({}) is False  # nor between text and numbers


@pytest.mark.parametrize(
    ("source", "message", "position"),
    [
        ("", "expected a condition", 0),
        ("a AND", "expected a value", 5),
        ("(a OR b", "expected ')'", 7),
        ("a > > 2", "expected a value", 4),
        ("a @ b", "unexpected character '@'", 2),
        ("a b", "expected AND, OR or the end", 2),
        ('a == "unclosed', "unexpected character '\"'", 5),
        ("AND a", "expected a value", 0),
        ("a == 1)", "expected AND, OR or the end", 6),
    ],
)
def test_errors_say_what_was_expected_and_where(source: str, message: str, position: int) -> None:
    with pytest.raises(ConditionError) as caught:
        parse_condition(source)

    assert message in caught.value.message
    assert caught.value.position == position
    assert "⟨here⟩" in str(caught.value)


def test_nothing_is_ever_evaluated_as_python() -> None:
    with pytest.raises(ConditionError):
        parse_condition("__import__('os').system('true')")
    assert parse_condition("__class__ == null").evaluate({}) is True  # just a missing variable
