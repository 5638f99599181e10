"""A small condition language for the stages of an approval chain, typed against a request form.

Process admins write a stage's condition in the Django admin, for example
`amount > 1000 and department is "R&D"`. Admin input is never evaluated as Python: a hand-written
tokenizer and parser turn the text into clauses, `condition_check` holds them against the form's
field kinds, and `condition_holds` evaluates them on a request's values.

Grammar (keywords are case-insensitive; field names are case-sensitive `[a-z_][a-z0-9_]*`)::

    condition  := clause ("and" clause)*              at most 20 clauses, 1000 characters
    clause     := FIELD (">" | ">=" | "<" | "<=" | "=" | "!=") literal      ("==" is read as "=")
                | FIELD "is" ["not"] (literal | "empty")
                | FIELD ["not"] "in" "(" literal ("," literal)* ")"
                | FIELD "contains" literal
    literal    := NUMBER | STRING | DATE | "yes" | "no" | "true" | "false"
    NUMBER     := ["-"] digits ["." digits]          no exponent, no separators (1_000, 1,000)
    STRING     := '"' (any character but '"' or backslash | '\\"' | '\\\\')* '"'
    DATE       := digits{4} "-" digits{2} "-" digits{2}       unquoted ISO date, as 2026-12-24

`is` means `=` and `is not` means `!=`; both spellings are kept so a condition reads back as the
admin wrote it. The parser checks the syntax only; which operator and literal fit which field is
`condition_check`'s job, because its messages can then name the field's kind and choices.

A missing, None or blank value is unknown, as SQL's NULL: every clause on it is false except
`is empty`. So `amount != 5` and `department not in ("Sales")` are false for a request without an
amount or a department, and `is not empty` is the way to require the value.
"""

from __future__ import annotations

import dataclasses
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

FIELD_KINDS: tuple[str, ...] = (
    "text",
    "long_text",
    "integer",
    "decimal",
    "money",
    "date",
    "date_range",
    "choice",
    "multi_choice",
    "yes_no",
    "user",
    "file",
)

MAX_LENGTH = 1000
MAX_CLAUSES = 20

# Words of the language. A form field cannot be named one of these and still be used in a
# condition, so a form builder should refuse them as field names.
RESERVED_WORDS = frozenset(
    {"and", "or", "is", "not", "in", "contains", "empty", "yes", "no", "true", "false"}
)

COMPARISONS = (">", ">=", "<", "<=", "=", "!=")
EQUALITY = ("is", "is not", "=", "!=")
EMPTINESS = ("is empty", "is not empty")

_NUMBER_KINDS = ("integer", "decimal", "money")
_TEXT_KINDS = ("text", "long_text")
_BOOLEANS = {"yes": True, "no": False, "true": True, "false": False}
_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIELD_NAME = re.compile(r"[a-z_][a-z0-9_]*")
# A run that starts like a number: classified whole, so "1_000", "1e5" and "2026-1-5" are
# reported as one bad literal rather than as a number followed by surprising tokens.
_NUMERIC_RUN = re.compile(r"-?[0-9][A-Za-z0-9_.\-]*")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_THOUSANDS = re.compile(r"(?:,[0-9]{3})+(?:\.[0-9]+)?(?![0-9])")
_OPERATORS = ("==", ">=", "<=", "!=", ">", "<", "=")
_WRONG_QUOTES = "'\u2018\u2019\u201c\u201d\u201e\u00ab\u00bb`"


class ConditionError(ValueError):
    """A condition that does not parse, or a value it cannot compare, in words for a process admin.

    `message` names the offending field or token; `position` is the 0-based character offset of
    that token in the condition's text (None when no single place is to blame). Messages count
    positions from 1, as a person reading the text does.
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


@dataclass(frozen=True)
class FieldSpec:
    """What `condition_check` needs to know of one form field: its kind and, for a choice or a
    multi_choice, the allowed choices."""

    kind: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Clause:
    """One comparison on one field.

    `op` is normalized: one of COMPARISONS, EQUALITY, EMPTINESS, "in", "not in" or "contains".
    `value` is a Decimal, str, bool or date; a tuple of them for in/not in; None for EMPTINESS.
    `position` (where the field name starts) is only for messages and takes no part in equality.
    """

    field: str
    op: str
    value: Any
    position: int = dataclasses.field(default=0, compare=False)

    def __str__(self) -> str:
        if self.op in EMPTINESS:
            return f"{self.field} {self.op}"
        if self.op in ("in", "not in"):
            items = ", ".join(_literal_text(item) for item in self.value)
            return f"{self.field} {self.op} ({items})"
        return f"{self.field} {self.op} {_literal_text(self.value)}"


@dataclass(frozen=True)
class Condition:
    """Clauses that must all hold. `text` is what the admin wrote; str() gives the normalized text,
    and two conditions are equal when their clauses are, however they were spaced or spelled."""

    clauses: tuple[Clause, ...]
    text: str = dataclasses.field(default="", compare=False)

    def __str__(self) -> str:
        return " and ".join(str(clause) for clause in self.clauses)

    @property
    def fields(self) -> set[str]:
        return {clause.field for clause in self.clauses}


# ---------------------------------------------------------------- public API


def condition_parse(text: str | None) -> Condition | None:
    """The condition written in `text`, or None when it is blank (the stage always applies).

    Raises ConditionError, and nothing else, for any text that is not a condition, including text
    longer than MAX_LENGTH or with more than MAX_CLAUSES clauses.
    """
    if text is None:
        return None
    if not isinstance(text, str):
        raise ConditionError(f"A condition is text, not {type(text).__name__}.")
    if not text.strip():
        return None
    if len(text) > MAX_LENGTH:
        raise ConditionError(
            f"A condition has at most {MAX_LENGTH} characters; this one has {len(text)}.", MAX_LENGTH
        )
    return _Parser(text, _tokenize(text)).condition()


def condition_check(text: str | None, fields: Mapping[str, FieldSpec]) -> list[str]:
    """What is wrong with the condition `text` for a form with `fields` ([] when it is valid).

    A syntax error is the only message, since nothing after it can be trusted; otherwise there is
    one message per clause that names an unknown field or does not fit its field's kind.
    """
    try:
        condition = condition_parse(text)
    except ConditionError as error:
        return [error.message]
    if condition is None:
        return []
    errors: list[str] = []
    for clause in condition.clauses:
        problem = _clause_problem(clause, fields)
        if problem is not None and problem not in errors:
            errors.append(problem)
    return errors


def condition_holds(condition: Condition | None, values: Mapping[str, Any]) -> bool:
    """Whether every clause holds for a request's `values` (True for no condition).

    `values` are what a form's cleaned_data gives: int or Decimal (or a money dict with an
    "amount"; the currency is not looked at), str, date, a (date, date) tuple, a list of str,
    bool, a user or a file name. Numbers, dates and yes/no may also come as their JSON text
    ("1000.50", "2026-12-24", "yes"), as a process's stored data does. Numbers compare as Decimal.
    A missing, None or blank value is unknown: every clause on it is false except `is empty`.
    Blank is "" or whitespace, an empty list, a date range of two Nones, or a money dict whose
    amount is blank; 0, False and Decimal("0.00") are values.

    Raises ConditionError when a value cannot be compared with its clause's literal (text where a
    number is expected, say): skipping an approval stage on a value of the wrong type would be a
    silent mistake. Every clause is evaluated, so whether it raises does not depend on the order.
    """
    if condition is None:
        return True
    results = [_clause_holds(clause, values) for clause in condition.clauses]
    return all(results)


def condition_fields(text: str | None) -> set[str]:
    """The field names the condition `text` refers to (empty for a blank condition), so a form
    field that a stage uses is not removed unnoticed. Raises ConditionError if it does not parse."""
    condition = condition_parse(text)
    return set() if condition is None else condition.fields


def condition_normalize(text: str | None) -> str:
    """The condition in canonical form: lower-case keywords, single spaces, double-quoted text,
    yes/no for booleans ("" for a blank condition). Raises ConditionError if it does not parse."""
    condition = condition_parse(text)
    return "" if condition is None else str(condition)


# ---------------------------------------------------------------- tokenizer


@dataclass(frozen=True)
class _Token:
    kind: str  # "field", "word", "keyword", "literal", "op", "(", ")", ",", "end"
    text: str  # as written
    value: Any  # the field name, keyword (lower case), operator or literal's value
    position: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    length = len(text)
    i = 0
    while i < length:
        char = text[i]
        if char.isspace():
            i += 1
        elif char == '"':
            value, end = _read_string(text, i)
            tokens.append(_Token("literal", text[i:end], value, i))
            i = end
        elif numeric := _NUMERIC_RUN.match(text, i):
            token = _read_numeric(text, numeric)
            tokens.append(token)
            i = numeric.end()
        elif word_match := _WORD.match(text, i):
            word = word_match.group()
            lower = word.lower()
            if lower in RESERVED_WORDS:
                kind, value = "keyword", lower
            elif _FIELD_NAME.fullmatch(word):
                kind, value = "field", word
            else:
                kind, value = "word", word
            tokens.append(_Token(kind, word, value, i))
            i = word_match.end()
        elif text.startswith(_OPERATORS, i):
            op = next(op for op in _OPERATORS if text.startswith(op, i))
            tokens.append(_Token("op", op, "=" if op == "==" else op, i))
            i += len(op)
        elif char in "(),":
            tokens.append(_Token(char, char, char, i))
            i += 1
        elif char in _WRONG_QUOTES:
            raise ConditionError(
                f'Write text in straight double quotes ("like this"), not with {char} (at position {i + 1}).',
                i,
            )
        else:
            raise ConditionError(f"Unexpected character {_show_char(char)} at position {i + 1}.", i)
    tokens.append(_Token("end", "", None, length))
    return tokens


def _read_string(text: str, start: int) -> tuple[str, int]:
    """The value of the string literal opening at `start`, and the offset after its closing quote."""
    chars: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == '"':
            return "".join(chars), i + 1
        if char == "\\":
            escaped = text[i + 1 : i + 2]
            if escaped not in ('"', "\\"):
                shown = f"\\{escaped}" if escaped else "\\ at the end"
                raise ConditionError(
                    f'Unknown escape {shown} at position {i + 1}: inside quotes write \\" for a quote '
                    "and \\\\ for a backslash.",
                    i,
                )
            chars.append(escaped)
            i += 2
        else:
            chars.append(char)
            i += 1
    raise ConditionError(f"The text opened with a quote at position {start + 1} is never closed.", start)


def _read_numeric(text: str, match: re.Match[str]) -> _Token:
    """The number or date literal that `match` (of _NUMERIC_RUN) covers."""
    run, start = match.group(), match.start()
    where = f"at position {start + 1}"
    if _DATE.fullmatch(run):
        try:
            return _Token("literal", run, date.fromisoformat(run), start)
        except ValueError:
            raise ConditionError(f'"{run}" {where} is not a date of the calendar.', start) from None
    if _NUMBER.fullmatch(run):
        separators = _THOUSANDS.match(text, match.end())
        if separators:
            written = run + separators.group()
            raise ConditionError(
                f'Write numbers without separators: "{written}" {where} should be '
                f"{written.replace(',', '')}.",
                start,
            )
        try:
            return _Token("literal", run, Decimal(run), start)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
            raise ConditionError(f'"{run}" {where} is not a number.', start) from None
    if "_" in run:
        hint = f"write numbers without separators, as {run.replace('_', '')}"
    elif re.match(r"-?[0-9.]+[eE]", run):
        hint = "write numbers in full, without an exponent"
    elif "-" in run[1:]:
        hint = "write dates as year-month-day, as 2026-12-24"
    else:
        hint = "write numbers as 1000 or 1000.50"
    raise ConditionError(f'"{run}" {where} is not a number or a date: {hint}.', start)


def _show_char(char: str) -> str:
    return f'"{char}"' if char.isprintable() else f"U+{ord(char):04X}"


# ---------------------------------------------------------------- parser


class _Parser:
    """Recursive descent over the token list; one method per rule of the grammar."""

    def __init__(self, text: str, tokens: list[_Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.index = 0

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def at_keyword(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "keyword" and token.value in words

    def fail(self, expected: str, token: _Token) -> ConditionError:
        return ConditionError(
            f"Expected {expected} at position {token.position + 1}, found {_describe(token)}.",
            token.position,
        )

    def condition(self) -> Condition:
        clauses = [self.clause()]
        while self.at_keyword("and"):
            self.advance()
            if len(clauses) == MAX_CLAUSES:
                start = self.peek().position
                raise ConditionError(
                    f"A condition has at most {MAX_CLAUSES} clauses; "
                    f"clause {MAX_CLAUSES + 1} starts at position {start + 1}.",
                    start,
                )
            clauses.append(self.clause())
        token = self.peek()
        if token.kind == "keyword" and token.value == "or":
            raise ConditionError(
                f'Only "and" can join clauses: "{token.text}" at position {token.position + 1} '
                "is not supported.",
                token.position,
            )
        if token.kind != "end":
            raise self.fail('"and" or the end of the condition', token)
        return Condition(tuple(clauses), self.text)

    def clause(self) -> Clause:
        token = self.advance()
        if token.kind == "word":
            raise ConditionError(
                f'"{token.text}" at position {token.position + 1} is not a field name: '
                f'field names are lower case, as "{token.text.lower()}".',
                token.position,
            )
        if token.kind != "field":
            raise self.fail("a field name", token)
        name, position = token.value, token.position
        op = self.advance()
        if op.kind == "op":
            return Clause(name, op.value, self.literal(op), position)
        if op.kind == "keyword" and op.value == "is":
            negated = self.at_keyword("not")
            if negated:
                self.advance()
            if self.at_keyword("empty"):
                self.advance()
                return Clause(name, "is not empty" if negated else "is empty", None, position)
            if self.at_keyword("in"):
                token = self.peek()
                raise ConditionError(
                    f'Write "{name} in (...)" or "{name} not in (...)" without "is" '
                    f"(at position {token.position + 1}).",
                    token.position,
                )
            return Clause(name, "is not" if negated else "is", self.literal(op), position)
        if op.kind == "keyword" and op.value == "not":
            if not self.at_keyword("in"):
                raise self.fail('"in" after "not"', self.peek())
            self.advance()
            return Clause(name, "not in", self.items(), position)
        if op.kind == "keyword" and op.value == "in":
            return Clause(name, "in", self.items(), position)
        if op.kind == "keyword" and op.value == "contains":
            return Clause(name, "contains", self.literal(op), position)
        raise self.fail(
            f'an operator after "{name}" (>, >=, <, <=, =, !=, is, is not, in, not in, contains)', op
        )

    def literal(self, after: _Token) -> Any:
        token = self.advance()
        if token.kind == "literal":
            return token.value
        if token.kind == "keyword" and token.value in _BOOLEANS:
            return _BOOLEANS[token.value]
        if token.kind == "keyword" and token.value == "empty":
            raise ConditionError(
                f'"empty" at position {token.position + 1} goes with "is": write "is empty" or '
                '"is not empty".',
                token.position,
            )
        if token.kind in ("field", "word"):
            raise ConditionError(
                f'Expected a value after "{after.text}" at position {token.position + 1}, found '
                f'"{token.text}": write text in double quotes, as "{token.text}"; a condition '
                "cannot compare two fields.",
                token.position,
            )
        raise self.fail(f'a value after "{after.text}"', token)

    def items(self) -> tuple[Any, ...]:
        opening = self.advance()
        if opening.kind != "(":
            raise self.fail('a list in parentheses, as ("a", "b"),', opening)
        if self.peek().kind == ")":
            raise ConditionError(f"The list at position {opening.position + 1} is empty.", opening.position)
        items = [self.literal(opening)]
        while self.peek().kind == ",":
            comma = self.advance()
            items.append(self.literal(comma))
        closing = self.advance()
        if closing.kind != ")":
            raise self.fail('"," or ")" in the list', closing)
        return tuple(items)


def _describe(token: _Token) -> str:
    if token.kind == "end":
        return "the end of the condition"
    text = token.text if len(token.text) <= 40 else token.text[:37] + "..."
    return text if token.kind == "literal" and token.text.startswith('"') else f'"{text}"'


# ---------------------------------------------------------------- type rules


def _clause_problem(clause: Clause, fields: Mapping[str, FieldSpec]) -> str | None:
    """Why `clause` does not fit the form (None when it does)."""
    name = clause.field
    spec = fields.get(name)
    if spec is None:
        known = ", ".join(fields) if fields else "no fields"
        return f'Unknown field "{name}" at position {clause.position + 1}: the form has {known}.'
    kind = spec.kind
    if kind not in FIELD_KINDS:
        return f'"{name}" has a kind this condition language does not know ("{kind}").'
    if clause.op in EMPTINESS:
        return None
    op, value = clause.op, clause.value
    strings = (
        all(isinstance(item, str) for item in value) if op in ("in", "not in") else isinstance(value, str)
    )
    if kind in _NUMBER_KINDS:
        if op not in COMPARISONS + EQUALITY or not isinstance(value, Decimal):
            article = "an" if kind == "integer" else "a"
            return (
                f'"{name}" is {article} {kind} field: compare it with >, >=, <, <=, =, != or is '
                f"and a number, as {name} > 1000."
            )
        if kind == "integer" and value != value.to_integral_value():
            return (
                f'"{name}" is an integer field: compare it with a whole number, not {_literal_text(value)}.'
            )
        return None
    if kind == "date":
        if op not in COMPARISONS + EQUALITY or not isinstance(value, date):
            return (
                f'"{name}" is a date field: compare it with >, >=, <, <=, =, != or is and a date '
                f"written as 2026-12-24, as {name} >= 2026-12-24."
            )
        return None
    if kind == "date_range":
        numbers = [other for other, other_spec in fields.items() if other_spec.kind in _NUMBER_KINDS]
        example = f"a number field such as {numbers[0]}" if numbers else "a number field (days, say)"
        return (
            f'"{name}" is a date range and cannot be compared: compare {example} instead, '
            f'or use "{name} is empty" / "{name} is not empty".'
        )
    if kind in _TEXT_KINDS:
        if op not in (*EQUALITY, "in", "not in", "contains") or not strings:
            return (
                f'"{name}" is a text field: compare it with is, is not, =, !=, in, not in or '
                f'contains and text in double quotes, as {name} contains "urgent".'
            )
        return None
    if kind == "choice":
        if op not in (*EQUALITY, "in", "not in") or not strings:
            return f'"{name}" is a choice: compare it with is/in and one of {_choices_text(spec)}.'
        return _unknown_choices(name, spec, value if op in ("in", "not in") else (value,))
    if kind == "multi_choice":
        if op != "contains" or not strings:
            return (
                f'"{name}" is a multiple choice: use "contains" and one of {_choices_text(spec)}, '
                f'or "is empty".'
            )
        return _unknown_choices(name, spec, (value,))
    if kind == "yes_no":
        if op not in ("is", "=") or not isinstance(value, bool):
            return f'"{name}" is a yes/no field: write {name} is yes or {name} is no.'
        return None
    # user, file
    return f'"{name}" is a {kind} field: only "is empty" and "is not empty" apply to it.'


def _choices_text(spec: FieldSpec) -> str:
    if not spec.choices:
        return "its choices (it has none yet)"
    return ", ".join(_quote(choice) for choice in spec.choices)


def _unknown_choices(name: str, spec: FieldSpec, values: tuple[Any, ...]) -> str | None:
    unknown = [value for value in values if value not in spec.choices]
    if not unknown:
        return None
    shown = ", ".join(_quote(value) for value in unknown)
    verb = "is not a choice" if len(unknown) == 1 else "are not choices"
    return f'{shown} {verb} of "{name}": use one of {_choices_text(spec)}.'


# ---------------------------------------------------------------- evaluation


def _clause_holds(clause: Clause, values: Mapping[str, Any]) -> bool:
    raw = values.get(clause.field)
    empty = _is_empty(raw)
    if clause.op == "is empty":
        return empty
    if clause.op == "is not empty":
        return not empty
    if empty:
        return False
    value = raw["amount"] if isinstance(raw, Mapping) and "amount" in raw else raw
    op, literal = clause.op, clause.value
    if op in ("in", "not in"):
        found = any(_equal(clause, value, item) for item in literal)
        return found if op == "in" else not found
    if op == "contains":
        return _contains(clause, value, literal)
    if op in ("is", "="):
        return _equal(clause, value, literal)
    if op in ("is not", "!="):
        return not _equal(clause, value, literal)
    if isinstance(literal, Decimal):
        return _ORDERING[op](_as_decimal(clause, value), literal)
    if isinstance(literal, date):
        return _ORDERING[op](_as_date(clause, value), literal)
    raise _mismatch(clause, value)


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | set | frozenset):
        return all(item is None or item == "" for item in value)
    if isinstance(value, Mapping):
        return _is_empty(value.get("amount")) if "amount" in value else not value
    return False


def _equal(clause: Clause, value: Any, literal: Any) -> bool:
    if isinstance(literal, bool):
        return _as_bool(clause, value) is literal
    if isinstance(literal, Decimal):
        return _as_decimal(clause, value) == literal
    if isinstance(literal, date):
        return _as_date(clause, value) == literal
    if isinstance(literal, str) and isinstance(value, str):
        return value == literal
    raise _mismatch(clause, value)


def _contains(clause: Clause, value: Any, literal: Any) -> bool:
    if isinstance(literal, str):
        if isinstance(value, str):
            return literal.casefold() in value.casefold()
        if isinstance(value, list | tuple | set | frozenset):
            return literal in value
    raise _mismatch(clause, value)


def _as_decimal(clause: Clause, value: Any) -> Decimal:
    number: Decimal | None = None
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int) and not isinstance(value, bool):
        number = Decimal(value)
    elif isinstance(value, float | str):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            number = None
    if number is None or not number.is_finite():
        raise _mismatch(clause, value)
    return number


def _as_date(clause: Clause, value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _mismatch(clause, value)


def _as_bool(clause: Clause, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
        return _BOOLEANS[value.strip().lower()]
    raise _mismatch(clause, value)


def _mismatch(clause: Clause, value: Any) -> ConditionError:
    shown = repr(value) if isinstance(value, str | int | Decimal | date | bool) else type(value).__name__
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return ConditionError(
        f'Cannot evaluate "{clause}": the value of "{clause.field}" ({shown}) does not compare '
        "with it; does the form still match the condition?",
        clause.position,
    )


# ---------------------------------------------------------------- normalized text


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _literal_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return _quote(value)
    return repr(value)  # pragma: no cover - the parser makes no other literal
