"""``NAME=VALUE`` arguments as the command line and the fit dialog take them: values are JSON when they are
JSON (numbers, booleans, null, lists), else the text itself (``compression=pcen``)."""

from __future__ import annotations

from typing import Any

from .errors import ConfigurationError
from .jsonfile import parse_json


def parse_value(text: str) -> Any:
    """``'8'`` -> 8, ``'[5, 4]'`` -> [5, 4], ``'true'`` -> True, ``'pcen'`` -> ``'pcen'``."""
    try:
        return parse_json(text)
    except (ValueError, RecursionError):
        return text


def parse_named_values(items: list[str], what: str) -> dict[str, Any]:
    """``['a=1', 'b="x"']`` -> ``{'a': 1, 'b': 'x'}``; ``what`` names the option in the error message."""
    values: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigurationError(f"{what} expects NAME=VALUE (got {item!r})")
        values[name.strip()] = parse_value(value.strip())
    return values


def split_named_values(text: str) -> list[str]:
    """One line of ``NAME=VALUE`` items separated by spaces or commas; a value's brackets and quotes keep their
    commas and spaces (``kernel_size=[5, 4] rnn_type="LSTM"``)."""
    items, current, depth, quote = [], "", 0, None
    for char in text:
        if quote is not None:
            current += char
            quote = None if char == quote else quote
        elif char in "\"'":
            current, quote = current + char, char
        elif char in "[{":
            current, depth = current + char, depth + 1
        elif char in "]}":
            current, depth = current + char, max(0, depth - 1)
        elif char in " ,\t" and depth == 0:
            if current:
                items.append(current)
            current = ""
        else:
            current += char
    if current:
        items.append(current)
    return items
