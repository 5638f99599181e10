"""The condition language of approval-chain stages: parsing, checking against a form, evaluating.

Pure Python: no database, no Django.
"""

from __future__ import annotations

import ast
import random
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from processes.policies import conditions
from processes.policies.conditions import (
    FIELD_KINDS,
    MAX_CLAUSES,
    MAX_LENGTH,
    RESERVED_WORDS,
    Clause,
    Condition,
    ConditionError,
    FieldSpec,
    condition_check,
    condition_fields,
    condition_holds,
    condition_normalize,
    condition_parse,
)

FORM = {
    "days": FieldSpec("integer"),
    "rate": FieldSpec("decimal"),
    "amount": FieldSpec("money"),
    "start": FieldSpec("date"),
    "period": FieldSpec("date_range"),
    "reason": FieldSpec("text"),
    "notes": FieldSpec("long_text"),
    "department": FieldSpec("choice", ("R&D", "Sales")),
    "tags": FieldSpec("multi_choice", ("travel", "hotel", "food")),
    "urgent": FieldSpec("yes_no"),
    "manager": FieldSpec("user"),
    "receipt": FieldSpec("file"),
}

REQUEST = {
    "days": 10,
    "rate": Decimal("2.50"),
    "amount": Decimal("1000.50"),
    "start": date(2026, 12, 24),
    "period": (date(2026, 12, 24), date(2027, 1, 2)),
    "reason": "Conference in Berlin",
    "notes": 'Said "hi" to the CFO',
    "department": "R&D",
    "tags": ["travel", "hotel"],
    "urgent": True,
    "manager": 7,
    "receipt": "scan.pdf",
}


def holds(text: str, values: dict | None = None) -> bool:
    return condition_holds(condition_parse(text), REQUEST if values is None else values)


def parse_error(text: str) -> ConditionError:
    with pytest.raises(ConditionError) as caught:
        condition_parse(text)
    return caught.value


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize("text", ["", "   ", "\n\t ", None])
def test_a_blank_condition_is_no_condition_and_always_holds(text):
    assert condition_parse(text) is None
    assert condition_check(text, FORM) == []
    assert condition_holds(None, {}) is True
    assert condition_fields(text) == set()
    assert condition_normalize(text) == ""


def test_clauses_are_normalized():
    condition = condition_parse('days>=10 AND department IS NOT "R&D" and tags Contains "hotel"')
    assert condition == Condition(
        (
            Clause("days", ">=", Decimal(10)),
            Clause("department", "is not", "R&D"),
            Clause("tags", "contains", "hotel"),
        )
    )
    assert condition.clauses[1].position == 13
    assert str(condition) == 'days >= 10 and department is not "R&D" and tags contains "hotel"'


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("amount  >   1000", "amount > 1000"),
        ("amount == 1000.50", "amount = 1000.50"),
        ("amount != -3", "amount != -3"),
        ("rate < 0.0000001", "rate < 0.0000001"),
        ("urgent = TRUE", "urgent = yes"),
        ("urgent is false", "urgent is no"),
        ("start <= 2026-12-24", "start <= 2026-12-24"),
        ('department in("R&D" ,"Sales")', 'department in ("R&D", "Sales")'),
        ('department NOT IN ("Sales")', 'department not in ("Sales")'),
        ("receipt IS NOT EMPTY", "receipt is not empty"),
        ("manager is empty", "manager is empty"),
        (r'reason is "say \"hi\" \\o/"', r'reason is "say \"hi\" \\o/"'),
    ],
)
def test_normalize_gives_canonical_text_that_parses_back_the_same(text, normalized):
    assert condition_normalize(text) == normalized
    assert condition_parse(normalized) == condition_parse(text)
    assert condition_normalize(normalized) == normalized


def test_a_condition_keeps_the_text_as_written_but_compares_by_its_clauses():
    written = condition_parse("days   >  3")
    assert written.text == "days   >  3"
    assert written == condition_parse("days > 3")


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ('"plain"', "plain"),
        (r'"a \"quoted\" word"', 'a "quoted" word'),
        (r'"back\\slash"', "back\\slash"),
        (r'"\\\""', '\\"'),
        ('""', ""),
        ('"R&D (Berlin), 100%"', "R&D (Berlin), 100%"),
        ('"and or is not in ( ) , > 1000"', "and or is not in ( ) , > 1000"),
        ('"Zürich ✓"', "Zürich ✓"),
    ],
)
def test_string_literals_and_their_escapes(literal, value):
    assert condition_parse(f"reason is {literal}").clauses[0].value == value


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("amount > 1 or days > 2", 11, 'Only "and" can join clauses: "or" at position 12 is not supported.'),
        ("amount > 1 OR days > 2", 11, 'Only "and" can join clauses: "OR" at position 12'),
        ("amount >", 8, 'Expected a value after ">" at position 9, found the end of the condition.'),
        ("amount 1000", 7, 'Expected an operator after "amount"'),
        ("> 1000", 0, 'Expected a field name at position 1, found ">".'),
        ("and days > 1", 0, 'Expected a field name at position 1, found "and".'),
        ("days > 1 and", 12, "Expected a field name at position 13, found the end of the condition."),
        ("days > 1 days > 2", 9, 'Expected "and" or the end of the condition at position 10, found "days".'),
        ("days > 1 1000", 9, 'at position 10, found "1000"'),
        ("Days > 1", 0, '"Days" at position 1 is not a field name: field names are lower case, as "days".'),
        ("amount > 1,000", 9, 'Write numbers without separators: "1,000" at position 10 should be 1000.'),
        ("amount > 1,000,000.50", 9, '"1,000,000.50" at position 10 should be 1000000.50'),
        ("amount > 1_000", 9, "write numbers without separators, as 1000"),
        ("amount > 1e5", 9, '"1e5" at position 10 is not a number or a date: write numbers in full'),
        ("amount > 1.", 9, '"1." at position 10 is not a number or a date'),
        ("amount > 1.2.3", 9, '"1.2.3" at position 10 is not a number'),
        ("amount > 1000and days > 1", 9, '"1000and" at position 10 is not a number'),
        ("amount > .5", 9, 'Unexpected character "." at position 10.'),
        ("amount > - 5", 9, 'Unexpected character "-" at position 10.'),
        ("start > 2026-02-30", 8, '"2026-02-30" at position 9 is not a date of the calendar.'),
        ("start > 2026-2-3", 8, "write dates as year-month-day, as 2026-12-24"),
        ("start > 24.12.2026", 8, '"24.12.2026" at position 9 is not a number or a date'),
        ('reason is "open', 10, "The text opened with a quote at position 11 is never closed."),
        (r'reason is "a\"', 10, "never closed"),
        (r'reason is "a\nb"', 12, r"Unknown escape \n at position 13"),
        ('reason is "a\\', 12, r"Unknown escape \ at the end"),
        ("reason is 'x'", 10, "Write text in straight double quotes"),
        ("reason is \u201cx\u201d", 10, "Write text in straight double quotes"),
        (
            "reason is x",
            10,
            'found "x": write text in double quotes, as "x"; a condition cannot compare two fields.',
        ),
        ("department is R&D", 15, 'Unexpected character "&" at position 16.'),
        ("amount > days", 9, "a condition cannot compare two fields"),
        ("reason = empty", 9, '"empty" at position 10 goes with "is"'),
        (
            'department is in ("R&D")',
            14,
            'Write "department in (...)" or "department not in (...)" without "is"',
        ),
        ('department not ("R&D")', 15, 'Expected "in" after "not" at position 16'),
        ('department in "R&D"', 14, 'Expected a list in parentheses, as ("a", "b"), at position 15'),
        ("department in ()", 14, "The list at position 15 is empty."),
        ('department in ("R&D",)', 21, 'Expected a value after "," at position 22, found ")".'),
        ('department in ("R&D" "Sales")', 21, 'Expected "," or ")" in the list at position 22'),
        ('department in ("R&D"', 20, 'Expected "," or ")" in the list at position 21, found the end'),
        ("(days > 1)", 0, 'Expected a field name at position 1, found "(".'),
        ("not urgent", 0, 'found "not"'),
        ("urgent", 6, 'Expected an operator after "urgent"'),
        ("days >= > 1", 8, 'Expected a value after ">=" at position 9, found ">".'),
        ("days => 1", 6, 'Expected a value after "=" at position 7, found ">".'),
        ("days > 1 \x00", 9, "Unexpected character U+0000 at position 10."),
        ("größe > 1", 2, 'Unexpected character "ö" at position 3.'),
    ],
)
def test_parse_errors_say_what_and_where(text, position, message):
    error = parse_error(text)
    assert message in error.message
    assert error.position == position
    assert str(error) == error.message
    assert isinstance(error, ValueError)


def test_a_parse_error_is_the_only_message_of_a_check():
    assert condition_check("dayz > 1 or days > 2", FORM) == [
        'Only "and" can join clauses: "or" at position 10 is not supported.'
    ]


def test_a_long_quoted_token_is_shortened_in_messages():
    error = parse_error("days > 1 " + '"' + "x" * 100 + '"')
    assert error.message.endswith('found "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx....')


def test_reserved_words_cannot_be_field_names():
    assert {"and", "or", "contains", "empty", "yes"} <= RESERVED_WORDS
    for word in RESERVED_WORDS:
        assert "Expected a field name at position 1" in parse_error(f"{word} is empty").message
        assert "Expected a field name at position 1" in parse_error(f"{word.upper()} is empty").message


# ---------------------------------------------------------------- limits


def test_the_length_is_bounded():
    longest = "days > " + "1" * (MAX_LENGTH - len("days > "))
    assert len(longest) == MAX_LENGTH
    assert condition_parse(longest) is not None
    error = parse_error(longest + "1")
    assert error.message == "A condition has at most 1000 characters; this one has 1001."
    assert error.position == MAX_LENGTH
    assert condition_parse(" " * 5000) is None  # blank, however long


def test_the_number_of_clauses_is_bounded():
    clauses = [f"days > {n}" for n in range(MAX_CLAUSES + 1)]
    assert len(condition_parse(" and ".join(clauses[:MAX_CLAUSES])).clauses) == MAX_CLAUSES
    error = parse_error(" and ".join(clauses))
    start = len(" and ".join(clauses[:MAX_CLAUSES])) + len(" and ")
    assert error.message == f"A condition has at most 20 clauses; clause 21 starts at position {start + 1}."
    assert error.position == start


@pytest.mark.parametrize("text", [b"days > 1", bytearray(b"days > 1"), 12, ["days > 1"]])
def test_a_condition_that_is_not_text_is_refused(text):
    with pytest.raises(ConditionError, match="A condition is text, not"):
        condition_parse(text)
    assert condition_check(text, FORM) == [f"A condition is text, not {type(text).__name__}."]


# ---------------------------------------------------------------- nothing is executed


@pytest.mark.parametrize(
    "text",
    [
        '__import__("os")',
        '__import__("os").system("id")',
        "amount.__class__",
        "amount.__class__.__mro__ > 1",
        "days > days.real",
        "reason is reason.upper()",
        'eval("1")',
        'reason is eval("1")',
        'exec("import os")',
        "days > 1; import os",
        "days > (1)",
        "days > 1 + 1",
        "days > 2 ** 100000",
        "days > [1]",
        "days > {1}",
        "reason is {{ settings.SECRET_KEY }}",
        'reason is f"{days}"',
        'reason is "{}".format(days)',
        "reason is lambda: 1",
        "days > 1 if True else 0",
        "days > 1 or __import__('os')",
        "reason is ${HOME}",
        "reason is `id`",
        "days[0] > 1",
        'values["days"] > 1',
        "days > 0x10",
        "days > 1j",
        "days > True and __builtins__",
    ],
)
def test_python_is_never_accepted(text):
    with pytest.raises(ConditionError):
        condition_parse(text)


def test_the_module_never_evaluates_or_imports_dynamically():
    """A guard on the implementation itself: admin text only ever meets the hand-written parser."""
    source = Path(conditions.__file__).read_text()
    tree = ast.parse(source)
    calls = {"eval", "exec", "compile", "__import__", "getattr", "setattr", "vars", "globals", "locals"}
    attributes = {"eval", "exec", "literal_eval", "import_module", "__import__", "__dict__", "__globals__"}
    modules = {"ast", "builtins", "importlib", "pickle", "string"}
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    attrs = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not names & calls
    assert not attrs & attributes
    assert not imported & modules


# ---------------------------------------------------------------- checking against the form


VALID = [
    "days > 5",
    "days >= 5 and days < 10 and days <= 9 and days = 7 and days != 8",
    "days is 7 and days is not 8 and days = 7.0",
    "rate > 0.5 and rate = -1.25",
    "amount > 1000.50 and amount is 1000",
    "start >= 2026-12-24 and start < 2027-01-01 and start is not 2026-01-01",
    "period is empty",
    "period is not empty",
    'reason is "x" and reason is not "y" and reason = "x" and reason != "y"',
    'reason in ("a", "b") and reason not in ("c") and reason contains "conf"',
    'notes contains "urgent" and notes is not ""',
    'department is "R&D" and department is not "Sales" and department = "R&D" and department != "Sales"',
    'department in ("R&D", "Sales") and department not in ("Sales")',
    'tags contains "hotel"',
    "tags is empty",
    "urgent is yes",
    "urgent = no",
    "urgent is true",
    "manager is empty and receipt is not empty",
    "days > 5 and days > 5",
]


@pytest.mark.parametrize("text", VALID)
def test_valid_conditions_have_no_problems(text):
    assert condition_check(text, FORM) == []


@pytest.mark.parametrize("kind", FIELD_KINDS)
def test_every_kind_can_be_tested_for_emptiness(kind):
    form = {"x": FieldSpec(kind, ("a",))}
    assert condition_check("x is empty and x is not empty", form) == []


NUMBER_HINT = "compare it with >, >=, <, <=, =, != or is and a number, as {0} > 1000."
TEXT_HINT = (
    '"{0}" is a text field: compare it with is, is not, =, !=, in, not in or contains and text in '
    'double quotes, as {0} contains "urgent".'
)
DATE_HINT = (
    '"start" is a date field: compare it with >, >=, <, <=, =, != or is and a date written as '
    "2026-12-24, as start >= 2026-12-24."
)
CHOICE_HINT = '"department" is a choice: compare it with is/in and one of "R&D", "Sales".'
MULTI_HINT = (
    '"tags" is a multiple choice: use "contains" and one of "travel", "hotel", "food", or "is empty".'
)
YES_NO_HINT = '"urgent" is a yes/no field: write urgent is yes or urgent is no.'


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('days > "5"', '"days" is an integer field: ' + NUMBER_HINT.format("days")),
        ("days > 2026-12-24", '"days" is an integer field: ' + NUMBER_HINT.format("days")),
        ("days is yes", '"days" is an integer field: ' + NUMBER_HINT.format("days")),
        ('days in ("5")', '"days" is an integer field: ' + NUMBER_HINT.format("days")),
        ('days contains "5"', '"days" is an integer field: ' + NUMBER_HINT.format("days")),
        ("days > 1.5", '"days" is an integer field: compare it with a whole number, not 1.5.'),
        ("days = -0.01", '"days" is an integer field: compare it with a whole number, not -0.01.'),
        ('rate = "2.5"', '"rate" is a decimal field: ' + NUMBER_HINT.format("rate")),
        ('amount > "1000"', '"amount" is a money field: ' + NUMBER_HINT.format("amount")),
        ("amount is no", '"amount" is a money field: ' + NUMBER_HINT.format("amount")),
        ("start > 5", DATE_HINT),
        ('start > "2026-12-24"', DATE_HINT),
        ('start contains "2026"', DATE_HINT),
        (
            "period > 5",
            '"period" is a date range and cannot be compared: compare a number field such as days '
            'instead, or use "period is empty" / "period is not empty".',
        ),
        ("period >= 2026-12-24", '"period" is a date range and cannot be compared'),
        ("reason > 5", TEXT_HINT.format("reason")),
        ("reason is 5", TEXT_HINT.format("reason")),
        ('reason < "b"', TEXT_HINT.format("reason")),
        ('reason in ("a", 1)', TEXT_HINT.format("reason")),
        ("notes = yes", TEXT_HINT.format("notes")),
        ("department > 3", CHOICE_HINT),
        ('department contains "R"', CHOICE_HINT),
        ("department is yes", CHOICE_HINT),
        ("department in (1, 2)", CHOICE_HINT),
        (
            'department is "Marketing"',
            '"Marketing" is not a choice of "department": use one of "R&D", "Sales".',
        ),
        ('department is "r&d"', '"r&d" is not a choice of "department": use one of "R&D", "Sales".'),
        (
            'department not in ("R&D", "HR", "IT")',
            '"HR", "IT" are not choices of "department": use one of "R&D", "Sales".',
        ),
        ('tags is "hotel"', MULTI_HINT),
        ('tags in ("hotel")', MULTI_HINT),
        ("tags contains 3", MULTI_HINT),
        ('tags contains "spa"', '"spa" is not a choice of "tags": use one of "travel", "hotel", "food".'),
        ('urgent is "yes"', YES_NO_HINT),
        ("urgent is 1", YES_NO_HINT),
        ("urgent is not yes", YES_NO_HINT),
        ("urgent != no", YES_NO_HINT),
        ('manager is "ann"', '"manager" is a user field: only "is empty" and "is not empty" apply to it.'),
        ("manager = 7", '"manager" is a user field: only "is empty" and "is not empty" apply to it.'),
        (
            'receipt contains "pdf"',
            '"receipt" is a file field: only "is empty" and "is not empty" apply to it.',
        ),
    ],
)
def test_type_errors_name_the_field_and_what_is_allowed(text, error):
    problems = condition_check(text, FORM)
    assert len(problems) == 1
    assert problems[0].startswith(error)


def test_unknown_fields_list_the_form_fields():
    form = {"days": FieldSpec("integer"), "reason": FieldSpec("text"), "period": FieldSpec("date_range")}
    assert condition_check("dayz > 1", form) == [
        'Unknown field "dayz" at position 1: the form has days, reason, period.'
    ]
    assert condition_check("days > 1 and Reason2 is empty", form) == [
        '"Reason2" at position 14 is not a field name: field names are lower case, as "reason2".'
    ]
    assert condition_check("x is empty", {}) == ['Unknown field "x" at position 1: the form has no fields.']


def test_every_problem_clause_gets_one_message():
    problems = condition_check(
        'dayz > 1 and days > 1.5 and dayz > 1 and department is "HR" and days > 1', FORM
    )
    assert problems == [
        'Unknown field "dayz" at position 1: the form has ' + ", ".join(FORM) + ".",
        '"days" is an integer field: compare it with a whole number, not 1.5.',
        'Unknown field "dayz" at position 29: the form has ' + ", ".join(FORM) + ".",
        '"HR" is not a choice of "department": use one of "R&D", "Sales".',
    ]


def test_a_choice_without_choices_says_so():
    form = {"department": FieldSpec("choice")}
    assert condition_check('department is "R&D"', form) == [
        '"R&D" is not a choice of "department": use one of its choices (it has none yet).'
    ]


def test_a_date_range_without_a_number_field_suggests_one():
    form = {"period": FieldSpec("date_range")}
    assert condition_check("period > 3", form) == [
        '"period" is a date range and cannot be compared: compare a number field (days, say) instead, '
        'or use "period is empty" / "period is not empty".'
    ]


def test_an_unknown_kind_is_named():
    assert condition_check("x > 1", {"x": FieldSpec("colour")}) == [
        '"x" has a kind this condition language does not know ("colour").'
    ]


def test_field_names_are_matched_case_sensitively():
    assert condition_check("days > 1", {"Days": FieldSpec("integer")}) == [
        'Unknown field "days" at position 1: the form has Days.'
    ]


def test_condition_fields_names_every_field_used():
    assert condition_fields('days > 1 and department is "R&D" and days < 9 and receipt is empty') == {
        "days",
        "department",
        "receipt",
    }
    with pytest.raises(ConditionError):
        condition_fields("days >")


# ---------------------------------------------------------------- evaluation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # integer: days = 10
        ("days > 9", True),
        ("days > 10", False),
        ("days >= 10", True),
        ("days >= 11", False),
        ("days < 11", True),
        ("days < 10", False),
        ("days <= 10", True),
        ("days <= 9", False),
        ("days = 10", True),
        ("days = 9", False),
        ("days != 9", True),
        ("days != 10", False),
        ("days is 10.0", True),
        ("days is 11", False),
        ("days is not 11", True),
        ("days is not 10", False),
        ("days > -3", True),
        # decimal: rate = 2.50
        ("rate = 2.5", True),
        ("rate > 2.49", True),
        ("rate < 2.5", False),
        ("rate <= 2.50", True),
        # money: amount = 1000.50
        ("amount > 1000", True),
        ("amount > 1000.50", False),
        ("amount >= 1000.50", True),
        ("amount < 1000.51", True),
        ("amount != 1000.5", False),
        # date: start = 2026-12-24
        ("start >= 2026-12-24", True),
        ("start > 2026-12-24", False),
        ("start < 2027-01-01", True),
        ("start <= 2026-12-23", False),
        ("start = 2026-12-24", True),
        ("start != 2026-12-24", False),
        ("start is not 2026-12-25", True),
        # text: reason = "Conference in Berlin"
        ('reason is "Conference in Berlin"', True),
        ('reason is "conference in berlin"', False),
        ('reason = "Conference in Berlin"', True),
        ('reason is not "Conference in Berlin"', False),
        ('reason != "Conference"', True),
        ('reason contains "BERLIN"', True),
        ('reason contains "in b"', True),
        ('reason contains "Paris"', False),
        ('reason in ("x", "Conference in Berlin")', True),
        ('reason in ("Conference")', False),
        ('reason not in ("Conference")', True),
        ('reason not in ("Conference in Berlin")', False),
        # long text: notes = 'Said "hi" to the CFO'
        (r'notes contains "\"HI\""', True),
        ('notes contains "ceo"', False),
        # choice: department = "R&D"
        ('department is "R&D"', True),
        ('department is "Sales"', False),
        ('department is not "Sales"', True),
        ('department = "R&D"', True),
        ('department != "R&D"', False),
        ('department in ("Sales", "R&D")', True),
        ('department in ("Sales")', False),
        ('department not in ("Sales")', True),
        ('department not in ("R&D", "Sales")', False),
        # multi choice: tags = ["travel", "hotel"]
        ('tags contains "hotel"', True),
        ('tags contains "food"', False),
        ("tags is not empty", True),
        ("tags is empty", False),
        # yes/no: urgent = True
        ("urgent is yes", True),
        ("urgent is no", False),
        ("urgent = true", True),
        ("urgent = false", False),
        # user, file, date range
        ("manager is not empty", True),
        ("manager is empty", False),
        ("receipt is not empty", True),
        ("receipt is empty", False),
        ("period is not empty", True),
        ("period is empty", False),
    ],
)
def test_each_operator_on_each_kind(text, expected):
    assert condition_check(text, FORM) == []
    assert holds(text) is expected


def test_a_multiple_choice_contains_exactly_the_choice():
    assert holds('tags contains "Hotel"') is False  # a choice is exact, unlike text


def test_no_is_true_for_a_no():
    assert holds("urgent is no", {"urgent": False}) is True
    assert holds("urgent is yes", {"urgent": False}) is False
    assert holds("urgent is not empty", {"urgent": False}) is True  # False is a value, not a blank


def test_zero_is_a_value_not_a_blank():
    assert holds("days = 0 and days is not empty", {"days": 0}) is True
    assert holds("amount is empty", {"amount": Decimal("0.00")}) is False


def test_and_needs_every_clause():
    text = 'amount > 1000 and department is "R&D" and urgent is yes and days >= 10'
    assert holds(text) is True
    for field, other in [("amount", Decimal(1000)), ("department", "Sales"), ("urgent", False), ("days", 9)]:
        assert holds(text, {**REQUEST, field: other}) is False


BLANK_CLAUSES = [
    "amount > 5",
    "amount < 5",
    "amount = 5",
    "amount != 5",
    "amount is 5",
    "amount is not 5",
    'amount in ("5")',
    'amount not in ("5")',
    'amount contains "5"',
    "amount is yes",
    "amount is not empty",
]


@pytest.mark.parametrize(
    "values",
    [{}, {"amount": None}, {"amount": ""}, {"amount": "  "}, {"amount": []}, {"amount": {"amount": None}}],
    ids=["missing", "none", "empty-string", "blank", "empty-list", "money-without-amount"],
)
def test_a_blank_value_is_unknown_and_only_is_empty_holds(values):
    for text in BLANK_CLAUSES:
        assert holds(text, values) is False, text
    assert holds("amount is empty", values) is True
    assert holds("days > 1 and amount is empty", {**values, "days": 2}) is True


def test_an_empty_date_range_is_empty():
    assert holds("period is empty", {"period": (None, None)}) is True
    assert holds("period is empty", {"period": (date(2026, 1, 1), None)}) is False


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("amount > 1000", {"amount": {"amount": Decimal("1500"), "currency": "EUR"}}, True),
        ("amount > 1000", {"amount": {"amount": "999.99", "currency": "EUR"}}, False),
        ("amount = 1000", {"amount": {"amount": "1000.00", "currency": "USD"}}, True),
        ("amount > 1000", {"amount": "1000.01"}, True),
        ("amount > 1000", {"amount": 1001}, True),
        ("rate = 0.1", {"rate": 0.1}, True),  # a float compares by its shortest repr, as Decimal
        ("rate > 0.1", {"rate": 0.1}, False),
        ("days > 10", {"days": 10**30}, True),
        ("start = 2026-12-24", {"start": "2026-12-24"}, True),
        ("start = 2026-12-24", {"start": datetime(2026, 12, 24, 23, 59)}, True),  # noqa: DTZ001
        ("urgent is yes", {"urgent": "yes"}, True),
        ("urgent is no", {"urgent": "False"}, True),
        ('tags contains "hotel"', {"tags": ("hotel",)}, True),
        ('tags contains "hotel"', {"tags": {"travel"}}, False),
    ],
)
def test_values_as_stored_json_or_money_compare(text, values, expected):
    assert holds(text, values) is expected


def test_numbers_compare_as_decimal_not_float():
    assert holds("amount = 0.3", {"amount": Decimal("0.1") + Decimal("0.2")}) is True
    assert holds("amount > 9007199254740992", {"amount": 9007199254740993}) is True
    assert holds("amount < 0.30000000000000001", {"amount": Decimal("0.3")}) is True


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("amount > 5", {"amount": "abc"}),
        ("amount > 5", {"amount": True}),
        ("amount > 5", {"amount": float("nan")}),
        ("amount > 5", {"amount": "Infinity"}),
        ("amount > 5", {"amount": {"currency": "EUR", "value": 5}}),
        ("amount = 5", {"amount": [5]}),
        ('department is "R&D"', {"department": 3}),
        ('department in ("R&D")', {"department": ["R&D"]}),
        ("start > 2026-01-01", {"start": (date(2026, 1, 1), date(2026, 1, 2))}),
        ("start > 2026-01-01", {"start": "tomorrow"}),
        ("urgent is yes", {"urgent": 1}),
        ("urgent is yes", {"urgent": "maybe"}),
        ('tags contains "x"', {"tags": 5}),
        ('reason > "a"', {"reason": "b"}),  # not valid for a form, and not evaluated either
    ],
)
def test_a_value_that_does_not_compare_raises_rather_than_skipping_a_stage(text, values):
    with pytest.raises(ConditionError, match="Cannot evaluate") as caught:
        holds(text, values)
    assert caught.value.position == 0


def test_every_clause_is_evaluated_so_a_mismatch_is_not_hidden_by_order():
    with pytest.raises(
        ConditionError, match=r'Cannot evaluate "amount > 5": the value of "amount" \(\'abc\'\)'
    ):
        holds("days > 100 and amount > 5", {"days": 1, "amount": "abc"})


def test_the_values_mapping_is_only_read_by_key():
    class Values(dict):
        def __getattr__(self, name):  # attribute access would be a way out of the language
            raise AssertionError(name)

    assert condition_holds(condition_parse("days > 1"), Values(days=2)) is True


# ---------------------------------------------------------------- fuzz


PIECES = [
    "days", "amount", "department", "tags", "urgent", "period", "reason", "Days", "x", "__import__",
    "and", "AND", "or", "is", "not", "in", "contains", "empty", "yes", "no", "true", "false",
    ">", ">=", "<", "<=", "=", "!=", "==", "=>", "<>", "!", "(", ")", ",", '"', "\\", "'", ".",
    "1000", "-3", "1.5", "1.", ".5", "-", "0", "1_000", "1,000", "1e5", "2026-12-24", "2026-02-30",
    "2026-1-1", '"R&D"', '"a\\"b"', '"x', "\\n", "é", "\u201c", "\x00", "\n", "\t", " ", " ", " ",
]  # fmt: skip


def _soup(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(0, 12)):
        if rng.random() < 0.15:
            parts.append(chr(rng.randint(0, 0x2FFF)))
        else:
            parts.append(rng.choice(PIECES))
    return "".join(parts)


def _mutant(rng: random.Random) -> str:
    """A valid condition with a few pieces inserted, characters deleted or swapped: it reaches deeper
    into the parser than random soup, which mostly stops at the first character."""
    text = " and ".join(_valid_clause(rng) for _ in range(rng.randint(1, 3)))
    for _ in range(rng.randint(1, 3)):
        at = rng.randint(0, len(text))
        change = rng.random()
        if change < 0.4:
            text = text[:at] + rng.choice(PIECES) + text[at:]
        elif change < 0.7:
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + text[at + 1 : at + 2] + text[at : at + 1] + text[at + 2 :]
    return text


def _valid_clause(rng: random.Random) -> str:
    name = rng.choice(list(FORM))
    literal = rng.choice(
        ["1000", "-3.25", "0", "2026-12-24", "yes", "no", '"R&D"', '"a \\"b\\" \\\\"', '"hotel"', '""']
    )
    return rng.choice(
        [
            f"{name} {rng.choice(['>', '>=', '<', '<=', '=', '!=', '==', 'is', 'is not', 'contains'])} {literal}",
            f"{name} {rng.choice(['is empty', 'IS NOT EMPTY'])}",
            f'{name} {rng.choice(["in", "not in"])} ({literal}, "Sales")',
        ]
    )


def _values(rng: random.Random) -> dict:
    pool = [None, "", 0, 5, Decimal("1000.5"), "1000", "R&D", "hotel", True, False, ["hotel"],
            date(2026, 12, 24), (date(2026, 1, 1), date(2026, 1, 2)), {"amount": "5", "currency": "EUR"}]  # fmt: skip
    return {name: rng.choice(pool) for name in FORM if rng.random() < 0.8}


def _survives(text) -> None:
    """Parsing, checking, normalizing and evaluating `text` returns or raises ConditionError only."""
    condition, error = None, None
    try:
        condition = condition_parse(text)
    except ConditionError as raised:
        error = raised
    if error is not None:
        assert error.message
        assert error.position is None or 0 <= error.position <= len(text)
    problems = condition_check(text, FORM)
    assert all(isinstance(problem, str) and problem for problem in problems)
    if condition is not None:
        normalized = str(condition)
        assert condition_parse(normalized) == condition
        assert condition_normalize(normalized) == normalized
        assert len(condition_check(normalized, FORM)) == len(problems)  # positions may move


def test_fuzz_only_condition_errors_ever_escape():
    rng = random.Random(20260101)
    for _ in range(2000):
        _survives(_soup(rng))
    for _ in range(2000):
        _survives(_mutant(rng))
    for _ in range(500):
        raw = rng.randbytes(rng.randint(0, 40))
        with pytest.raises(ConditionError):
            condition_parse(raw)
        _survives(raw.decode("utf-8", errors="replace"))
        _survives(raw.decode("latin-1"))


def test_fuzz_valid_conditions_round_trip_and_evaluate():
    rng = random.Random(1000)
    for _ in range(1500):
        text = " and ".join(_valid_clause(rng) for _ in range(rng.randint(1, 5)))
        condition = condition_parse(text)
        assert condition is not None
        _survives(text)
        try:
            result = condition_holds(condition, _values(rng))
        except ConditionError:
            continue
        assert result in (True, False)
