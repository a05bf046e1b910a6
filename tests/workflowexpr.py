"""GitHub Actions expressions (`${{ ... }}`), evaluated as GitHub does, for the local workflow runner.

The language: literals (`'text'` with `''` for a quote, numbers, `true`, `false`, `null`),
contexts and their properties (`github.event.pull_request.number`, `needs.plan.outputs['x']`,
`a.b[0]`), the operators `!`, `==`, `!=`, `<`, `<=`, `>`, `>=`, `&&` and `||` (which return one of
their operands, not a boolean) and the functions `contains`, `startsWith`, `endsWith`, `format`,
`join`, `toJSON`, `fromJSON` and the status checks `success()`, `failure()`, `always()` and
`cancelled()`. Comparison follows GitHub's rules: strings ignore case, values of different types
are compared as numbers, and a missing property is null rather than an error.

Anything outside the language (another function, `*` filters, a syntax error) raises
ExpressionError naming the expression: the runner must not guess what GitHub would do.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

TOKEN = re.compile(
    r"\s*(?:(?P<number>-?(?:0x[0-9a-fA-F]+|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?))"
    r"|(?P<string>'(?:[^']|'')*')"
    r"|(?P<op>==|!=|<=|>=|&&|\|\||[!<>()\[\].,])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)
INTERPOLATION = re.compile(r"\$\{\{(.*?)\}\}", re.S)
STATUS_FUNCTIONS = ("success", "failure", "always", "cancelled")
STATUS_CALL = re.compile(r"\b(?:success|failure|always|cancelled)\s*\(")


class ExpressionError(Exception):
    """An expression the runner cannot evaluate as GitHub would."""


@dataclass(frozen=True)
class Status:
    """What the status functions answer where the expression is evaluated (a job's or a step's `if`)."""

    success: bool = True
    failure: bool = False
    cancelled: bool = False


def evaluate(expression: str, contexts: Mapping[str, Any], status: Status | None = None) -> Any:
    """The value of one expression (without `${{ }}`) in `contexts`."""
    return _Parser(expression, contexts, status or Status()).parse()


def interpolate(value: Any, contexts: Mapping[str, Any], status: Status | None = None) -> Any:
    """A workflow value with its `${{ }}` replaced: a string that is one whole expression becomes
    that expression's value (a list stays a list); other strings get the values' text; lists and
    mappings are interpolated item by item."""
    if isinstance(value, str):
        whole = INTERPOLATION.fullmatch(value.strip())
        if whole is not None and value.strip().count("${{") == 1:
            return evaluate(whole.group(1), contexts, status)
        return INTERPOLATION.sub(lambda m: to_text(evaluate(m.group(1), contexts, status)), value)
    if isinstance(value, list):
        return [interpolate(item, contexts, status) for item in value]
    if isinstance(value, dict):
        return {key: interpolate(item, contexts, status) for key, item in value.items()}
    return value


def condition(value: Any, contexts: Mapping[str, Any], status: Status) -> bool:
    """Whether an `if:` holds. Without a status function in it, it also needs `success()`."""
    if value is None:
        return status.success
    if isinstance(value, bool):
        return value and status.success
    text = str(value).strip()
    whole = INTERPOLATION.fullmatch(text)
    if whole is not None:
        text = whole.group(1).strip()
    if not STATUS_CALL.search(text):
        text = f"success() && ({text})"
    return truthy(evaluate(text, contexts, status))


def to_text(value: Any) -> str:
    """A value as text, as GitHub puts it into a string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, indent=2)
    return str(value)


def truthy(value: Any) -> bool:
    if value is None or value is False:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str):
        return value != ""
    return True


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return 0.0
        try:
            return float(int(text, 16)) if text.lower().startswith("0x") else float(text)
        except ValueError:
            return math.nan
    return math.nan


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    if isinstance(left, (dict, list)) or isinstance(right, (dict, list)):
        return left is right
    if type(left) is type(right):
        return bool(left == right)
    return _number(left) == _number(right)


def _compare(left: Any, right: Any) -> float:
    """<0, 0 or >0; NaN when the two do not compare."""
    if isinstance(left, str) and isinstance(right, str):
        first, second = left.casefold(), right.casefold()
        return (first > second) - (first < second)
    a, b = _number(left), _number(right)
    return math.nan if math.isnan(a) or math.isnan(b) else (a > b) - (a < b)


def _contains(search: Any, item: Any) -> bool:
    if isinstance(search, list):
        return any(_equal(element, item) for element in search)
    return to_text(item).casefold() in to_text(search).casefold()


def _format(template: Any, *args: Any) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) in ("{{", "}}"):
            return match.group(0)[0]
        return to_text(args[int(match.group(1))])

    return re.sub(r"\{\{|\}\}|\{(\d+)\}", replace, to_text(template))


def _from_json(text: Any) -> Any:
    try:
        return json.loads(to_text(text))
    except json.JSONDecodeError as err:
        raise ExpressionError(f"fromJSON: not JSON: {to_text(text)[:80]!r}") from err


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "contains": _contains,
    "startswith": lambda s, p: to_text(s).casefold().startswith(to_text(p).casefold()),
    "endswith": lambda s, p: to_text(s).casefold().endswith(to_text(p).casefold()),
    "format": _format,
    "join": lambda items, sep=",": (
        to_text(sep).join(to_text(i) for i in items) if isinstance(items, list) else to_text(items)
    ),
    "tojson": lambda value: json.dumps(value, indent=2),
    "fromjson": _from_json,
}


class _Parser:
    def __init__(self, text: str, contexts: Mapping[str, Any], status: Status) -> None:
        self.text = text
        self.contexts = {key.casefold(): value for key, value in contexts.items()}
        self.status = status
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(text):
            if text[position:].strip() == "":
                break
            match = TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise ExpressionError(f"cannot read `{text.strip()}` at {text[position:].strip()[:20]!r}")
            kind = match.lastgroup
            assert kind is not None
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.index = 0

    def parse(self) -> Any:
        value = self._or()
        if self.index != len(self.tokens):
            raise ExpressionError(f"unexpected {self.tokens[self.index][1]!r} in `{self.text.strip()}`")
        return value

    def _peek(self) -> str | None:
        return self.tokens[self.index][1] if self.index < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> tuple[str, str]:
        if self.index >= len(self.tokens):
            raise ExpressionError(f"`{self.text.strip()}` ends too early")
        token = self.tokens[self.index]
        if expected is not None and token[1] != expected:
            raise ExpressionError(f"expected {expected!r}, got {token[1]!r} in `{self.text.strip()}`")
        self.index += 1
        return token

    def _or(self) -> Any:
        value = self._and()
        while self._peek() == "||":
            self._take()
            right = self._and()
            value = value if truthy(value) else right
        return value

    def _and(self) -> Any:
        value = self._comparison()
        while self._peek() == "&&":
            self._take()
            right = self._comparison()
            value = right if truthy(value) else value
        return value

    def _comparison(self) -> Any:
        value = self._unary()
        while self._peek() in ("==", "!=", "<", "<=", ">", ">="):
            operator = self._take()[1]
            right = self._unary()
            if operator == "==":
                value = _equal(value, right)
            elif operator == "!=":
                value = not _equal(value, right)
            else:
                order = _compare(value, right)
                value = (
                    not math.isnan(order)
                    and {
                        "<": order < 0,
                        "<=": order <= 0,
                        ">": order > 0,
                        ">=": order >= 0,
                    }[operator]
                )
        return value

    def _unary(self) -> Any:
        if self._peek() == "!":
            self._take()
            return not truthy(self._unary())
        return self._postfix()

    def _postfix(self) -> Any:
        value = self._primary()
        while self._peek() in (".", "["):
            if self._take()[1] == ".":
                kind, name = self._take()
                if kind != "name":
                    raise ExpressionError(f"expected a property name after '.', got {name!r} in `{self.text.strip()}`")
                value = _property(value, name)
            else:
                key = self._or()
                self._take("]")
                value = _index(value, key)
        return value

    def _primary(self) -> Any:
        kind, token = self._take()
        if kind == "number":
            return float(int(token, 16)) if token.lower().startswith(("0x", "-0x")) else float(token)
        if kind == "string":
            return token[1:-1].replace("''", "'")
        if token == "(":
            value = self._or()
            self._take(")")
            return value
        if kind != "name":
            raise ExpressionError(f"unexpected {token!r} in `{self.text.strip()}`")
        if token in ("true", "false"):
            return token == "true"
        if token == "null":
            return None
        if self._peek() == "(":
            return self._call(token)
        if token.casefold() not in self.contexts:
            raise ExpressionError(f"unknown context {token!r} in `{self.text.strip()}`")
        return self.contexts[token.casefold()]

    def _call(self, name: str) -> Any:
        self._take("(")
        args = []
        while self._peek() != ")":
            args.append(self._or())
            if self._peek() == ",":
                self._take()
        self._take(")")
        folded = name.casefold()
        if folded in STATUS_FUNCTIONS:
            if args:
                raise ExpressionError(f"{name}() takes no arguments")
            return {
                "success": self.status.success,
                "failure": self.status.failure,
                "always": True,
                "cancelled": self.status.cancelled,
            }[folded]
        if folded not in FUNCTIONS:
            raise ExpressionError(f"the runner does not know the function {name}() in `{self.text.strip()}`")
        return FUNCTIONS[folded](*args)


def _property(value: Any, name: str) -> Any:
    if isinstance(value, dict):
        for key, item in value.items():
            if str(key).casefold() == name.casefold():
                return item
    return None


def _index(value: Any, key: Any) -> Any:
    if isinstance(value, list):
        number = _number(key)
        if math.isnan(number) or not number.is_integer() or not 0 <= number < len(value):
            return None
        return value[int(number)]
    return _property(value, to_text(key))
