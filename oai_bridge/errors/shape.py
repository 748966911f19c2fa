"""A server's JSON answer read by type: each field is taken as the type the plugin needs, and
anything else becomes ONE `UnreadableAnswerError` that names the field by its path in the answer
("a list where text was expected in choices[0].delta.content"), never Python's wording of a
TypeError or KeyError. Every model type's parser reads through these.

    obj(value, where)      an object
    items(value, where)    a list
    text(value, where)     text; null is ""

Behind them, `errors.invoke.to_invoke_error` is the last resort: a TypeError, AttributeError,
KeyError, IndexError or RecursionError that reaches it anyway (PYTHON_SHAPE_ERRORS) is shown as
an answer of an unexpected shape, with Python's detail only in the log.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oai_bridge.errors.kinds import UnreadableAnswerError

__all__ = ["PYTHON_SHAPE_ERRORS", "count", "items", "obj", "text"]

PYTHON_SHAPE_ERRORS = (TypeError, AttributeError, KeyError, IndexError, RecursionError)
"""What Python raises when code meets a value of another type or shape than it expects (and
`json.loads` on JSON nested deeper than the interpreter's recursion limit)."""


def count(value: Any) -> int | None:
    """A whole number (token counts, indexes), else None: JSON's `true` is no count, though
    Python's `bool` is an `int`."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def obj(value: Any, where: str) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    raise UnreadableAnswerError(value, "an object", where)


def items(value: Any, where: str) -> list[Any]:
    if isinstance(value, list):
        return value
    raise UnreadableAnswerError(value, "a list", where)


def text(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    raise UnreadableAnswerError(value, "text", where)
