"""The one list of front-end kinds: ``strfviewer.backend.frontends.KINDS``, the registry's kinds in its order,
importable without torch so that the command line and the window can list the kinds before torch loads."""

from __future__ import annotations

import subprocess
import sys

import pytest

from strfviewer.backend.frontends import FRONTEND_CLASSES, KINDS, frontend_class


def test_kinds_are_the_registrys_in_its_order():
    assert tuple(FRONTEND_CLASSES) == KINDS
    assert all(frontend_class(kind).kind == kind for kind in KINDS)


def test_the_kinds_and_the_command_line_load_without_torch():
    code = ("import sys; import strfviewer.cli; from strfviewer.backend.frontends import KINDS; "
            "print(len(KINDS), 'torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == [str(len(KINDS)), "False"]


def test_a_class_is_loaded_on_first_use():
    code = ("import sys, strfviewer.backend.frontends as f; before = 'torch' in sys.modules; "
            "print(before, f.SincNet.kind, f.ParamSpec.__name__, 'torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "sincnet", "ParamSpec", "True"]


def test_an_unknown_name_is_an_attribute_error():
    import strfviewer.backend.frontends as frontends

    with pytest.raises(AttributeError, match="NoSuchFrontend"):
        frontends.NoSuchFrontend  # noqa: B018 - the access is the test
