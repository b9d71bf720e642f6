"""Evaluate a MongoDB query filter against one document, for the subset of operators the services use.

Where this process is the only writer of a document and holds its lock, a conditional write can be
checked here against the document as this process last wrote it, instead of reading it again
(qualification-svc's relay writes do this). The semantics follow MongoDB's:
a condition on an array field matches when any element matches, ``$ne`` and ``$nin`` match when no
element does, and a missing field equals ``None``. An operator outside the subset raises
``UnsupportedFilter`` and the caller sends the filter to the server unchanged.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

_MISSING = object()


class UnsupportedFilter(Exception):
    """The filter uses an operator this module does not evaluate."""


def _resolve(value: Any, parts: list[str]) -> list[Any]:
    """Return every value at the dotted path, expanding arrays as MongoDB does."""
    if not parts:
        return [value]
    head, rest = parts[0], parts[1:]
    if isinstance(value, dict):
        return _resolve(value.get(head, _MISSING), rest) if head in value else [_MISSING]
    if isinstance(value, list):
        if head.isdigit():
            index = int(head)
            found = _resolve(value[index], rest) if index < len(value) else [_MISSING]
        else:
            found = []
        for element in value:
            if isinstance(element, dict):
                found.extend(candidate for candidate in _resolve(element, parts) if candidate is not _MISSING)
        return found or [_MISSING]
    return [_MISSING]


def _candidates(values: list[Any]) -> list[Any]:
    """Return the values and, for arrays, their elements: what equality and comparisons look at."""
    expanded: list[Any] = []
    for value in values:
        expanded.append(value)
        if isinstance(value, list):
            expanded.extend(value)
    return expanded


def _equals(values: list[Any], expected: Any) -> bool:
    if expected is None:
        return any(value is _MISSING or value is None for value in _candidates(values))
    return any(value is not _MISSING and _same(value, expected) for value in _candidates(values))


def _same(value: Any, expected: Any) -> bool:
    if isinstance(value, bool) != isinstance(expected, bool):
        return False
    return value == expected


def _comparable(value: Any, expected: Any) -> bool:
    numbers = (int, float)
    if isinstance(value, bool) or isinstance(expected, bool):
        return False
    if isinstance(value, numbers) and isinstance(expected, numbers):
        return True
    if isinstance(value, datetime) and isinstance(expected, datetime):
        return (value.tzinfo is None) == (expected.tzinfo is None)
    return type(value) is type(expected) and isinstance(value, str)


def _compare(values: list[Any], expected: Any, test: Callable[[Any, Any], bool]) -> bool:
    return any(
        value is not _MISSING and _comparable(value, expected) and test(value, expected)
        for value in _candidates(values)
    )


def _match_operators(values: list[Any], condition: dict[str, Any]) -> bool:
    for operator, expected in condition.items():
        if operator == "$eq":
            ok = _equals(values, expected)
        elif operator == "$ne":
            ok = not _equals(values, expected)
        elif operator == "$in":
            ok = any(_equals(values, item) for item in expected)
        elif operator == "$nin":
            ok = not any(_equals(values, item) for item in expected)
        elif operator == "$exists":
            ok = any(value is not _MISSING for value in values) == bool(expected)
        elif operator == "$size":
            ok = any(isinstance(value, list) and len(value) == expected for value in values)
        elif operator == "$lt":
            ok = _compare(values, expected, lambda a, b: a < b)
        elif operator == "$lte":
            ok = _compare(values, expected, lambda a, b: a <= b)
        elif operator == "$gt":
            ok = _compare(values, expected, lambda a, b: a > b)
        elif operator == "$gte":
            ok = _compare(values, expected, lambda a, b: a >= b)
        else:
            raise UnsupportedFilter(operator)
        if not ok:
            return False
    return True


def matches(document: dict[str, Any], document_filter: dict[str, Any]) -> bool:
    """Return True when ``document`` satisfies ``document_filter``."""
    for key, condition in document_filter.items():
        if key == "$and":
            ok = all(matches(document, part) for part in condition)
        elif key == "$or":
            ok = any(matches(document, part) for part in condition)
        elif key == "$nor":
            ok = not any(matches(document, part) for part in condition)
        elif key.startswith("$"):
            raise UnsupportedFilter(key)
        else:
            values = _resolve(document, key.split("."))
            if isinstance(condition, dict) and condition and all(name.startswith("$") for name in condition):
                ok = _match_operators(values, condition)
            elif isinstance(condition, dict) and any(name.startswith("$") for name in condition):
                raise UnsupportedFilter(key)
            else:
                ok = _equals(values, condition)
        if not ok:
            return False
    return True


_OPERATORS = frozenset({"$eq", "$ne", "$in", "$nin", "$exists", "$size", "$lt", "$lte", "$gt", "$gte"})


def check_supported(document_filter: dict[str, Any]) -> None:
    """Raise UnsupportedFilter unless ``matches`` can evaluate every part of ``document_filter``."""
    for key, condition in document_filter.items():
        if key in ("$and", "$or", "$nor"):
            for part in condition:
                check_supported(part)
        elif key.startswith("$"):
            raise UnsupportedFilter(key)
        elif isinstance(condition, dict) and any(name.startswith("$") for name in condition):
            unknown = [name for name in condition if name not in _OPERATORS]
            if unknown:
                raise UnsupportedFilter(", ".join(unknown))
