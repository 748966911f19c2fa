"""A server's JSON answer read by type: each field is taken as the type the plugin needs, and
anything else becomes ONE `UnreadableAnswerError` that names the field by its path in the answer
("a list where text was expected in choices[0].delta.content"), never Python's wording of a
TypeError or KeyError. Every model type's parser reads through these.

    obj(value, where)      an object
    items(value, where)    a list
    text(value, where)     text; null is ""
    number(value, where)   a number (not true/false)
    reading(where)         around a parser: a Python error that an unexpected shape raised
                           anyway becomes a malformed-answer error naming `where`
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from oai_bridge.errors.kinds import MalformedResponseError, UnreadableAnswerError

__all__ = ["PYTHON_SHAPE_ERRORS", "items", "number", "obj", "reading", "text"]

logger = logging.getLogger(__name__)

PYTHON_SHAPE_ERRORS = (TypeError, AttributeError, KeyError, IndexError)
"""What Python raises when code meets a value of another type or shape than it expects."""


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


def number(value: Any, where: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise UnreadableAnswerError(value, "a number", where)


@contextmanager
def reading(where: str) -> Iterator[None]:
    """Around a parser, as the last resort behind the typed reads: a TypeError, AttributeError,
    KeyError or IndexError that an unexpected shape raised anyway becomes a malformed-answer
    error naming `where` (the Python detail goes to the log, not to the user)."""
    try:
        yield
    except PYTHON_SHAPE_ERRORS as exc:
        logger.warning("could not read %s: %s: %s", where, type(exc).__name__, exc)
        raise MalformedResponseError(f"a shape the plugin cannot read in {where}") from None
