"""NAME=VALUE arguments (the command line's --model-arg and the fit dialog's field)."""

import pytest

from strfviewer.backend.errors import ConfigurationError
from strfviewer.backend.named_values import parse_named_values, split_named_values


def test_one_line_splits_at_spaces_and_commas_outside_brackets_and_quotes():
    items = split_named_values('kernel_size=[5, 4], rnn_type="LS TM"  n_hidden=8')
    assert items == ["kernel_size=[5, 4]", 'rnn_type="LS TM"', "n_hidden=8"]
    assert parse_named_values(items, "x") == {"kernel_size": [5, 4], "rnn_type": "LS TM", "n_hidden": 8}
    assert parse_named_values(["connectivity=FC", "decay_input=false", "context_window=null"], "x") == \
        {"connectivity": "FC", "decay_input": False, "context_window": None}
    assert split_named_values("  ") == []


def test_an_item_without_a_name_is_refused_with_the_option_named():
    with pytest.raises(ConfigurationError, match="Model arguments expects NAME=VALUE"):
        parse_named_values(["=3"], "Model arguments")
    with pytest.raises(ConfigurationError, match="--model-arg expects NAME=VALUE"):
        parse_named_values(["n_hidden"], "--model-arg")


def test_values_are_json_when_they_are_json_else_text():
    values = parse_named_values(["n=34", "f_max=null", "learn=true", "compression=pcen", "x=1.5", "s=\"q\"",
                            "deep=" + "[" * 100_000, "big=1" + "0" * 5000], "--frontend-arg")
    assert values["n"] == 34 and values["f_max"] is None and values["learn"] is True and values["x"] == 1.5
    assert values["compression"] == "pcen" and values["s"] == "q"
    assert values["deep"].startswith("[[[") and values["big"].startswith("10")  # not JSON Python can take: text


def test_a_value_without_a_name_is_refused():
    with pytest.raises(ConfigurationError, match="NAME=VALUE"):
        parse_named_values(["34"], "--frontend-arg")
