"""Each front-end's defaults are written twice, in its parameter schema (what forms and ``describe()`` show)
and as its constructor's keyword defaults (what ``Class(audio_fs=...)`` builds): they must agree."""

from __future__ import annotations

import inspect

import pytest

from strfviewer.backend.frontends import FRONTEND_CLASSES, KINDS

# Constructor arguments that are no form field: the strides are derived from the hop unless given.
NOT_IN_SCHEMA = {"icnet": {"encoder_strides"}}


def _constructor_parameters(kind: str) -> dict[str, inspect.Parameter]:
    parameters = inspect.signature(FRONTEND_CLASSES[kind].__init__).parameters
    return {name: p for name, p in parameters.items() if name != "self"}


@pytest.mark.parametrize("kind", KINDS)
def test_every_schema_default_is_the_constructors(kind):
    parameters = _constructor_parameters(kind)
    for spec in FRONTEND_CLASSES[kind].schema:
        assert spec.name in parameters, f"{kind}: the schema's {spec.name} is no constructor argument"
        default = parameters[spec.name].default
        if default is inspect.Parameter.empty:  # required (audio_fs): the schema's default only fills forms
            continue
        assert (type(spec.default), spec.default) == (type(default), default), (
            f"{kind}: {spec.name} defaults to {spec.default!r} in the schema but to {default!r} in __init__")


@pytest.mark.parametrize("kind", KINDS)
def test_every_constructor_argument_is_in_the_schema(kind):
    names = {spec.name for spec in FRONTEND_CLASSES[kind].schema}
    extra = set(_constructor_parameters(kind)) - names
    assert extra == NOT_IN_SCHEMA.get(kind, set()), f"{kind}: constructor arguments missing from the schema: {extra}"


@pytest.mark.parametrize("kind", KINDS)
def test_only_the_sample_rate_is_required(kind):
    required = [name for name, p in _constructor_parameters(kind).items() if p.default is inspect.Parameter.empty]
    assert required == ["audio_fs"], f"{kind}: required constructor arguments {required}"
