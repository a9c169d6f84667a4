"""A fit grid read from a TOML file: response sets × front-ends × model kinds × fit methods × recipes × seeds.

Every combination is a *cell*: one ``fit`` writing one model folder. A cell's id is readable (its names and
seed) and ends with a hash of everything that defines it, so it keeps its id, and its finished folder, across
reruns, while editing a recipe or a front-end's arguments makes new cells instead of reusing the old fits.
The file format is described in docs/formats.md ("Fit grids").
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError, StrfviewerError, one_line
from ..model_kinds import MODEL_KINDS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 reads TOML with the backport (the grid extra installs it)
    import tomli as tomllib

GRID_KEYS = ("name", "datasets", "frontends", "models", "methods", "recipes", "seeds")
METHOD_NAMES = ("gradient", "ridge")  # fitting.METHODS, without importing torch to read a file
# What a cell sets itself; a recipe sets any other field of FitConfig.
CELL_FIELDS = ("model", "frontend", "frontend_kwargs", "method", "seed")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$")
_HASH_CHARS = 8


class FitGridError(ConfigurationError):
    """A grid file cannot be used: unreadable, not TOML, or naming something strfviewer cannot fit."""


@dataclass(frozen=True)
class CellSpec:
    """One fit of a grid: which response set, front-end, model kind, method, recipe and seed."""

    dataset: str
    dataset_path: str
    frontend: str
    frontend_kind: str
    frontend_args: dict[str, Any]
    model: str
    method: str
    recipe: str
    recipe_args: dict[str, Any]
    seed: int

    @property
    def id(self) -> str:
        """``<dataset>_<frontend>_<model>_<method>_<recipe>_s<seed>-<hash>``: unique to this cell's definition."""
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:_HASH_CHARS]
        return f"{self.dataset}_{self.frontend}_{self.model}_{self.method}_{self.recipe}_s{self.seed}-{digest}"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, **asdict(self)}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> CellSpec:
        return cls(**{f.name: doc[f.name] for f in fields(cls)})

    def config_fields(self, valid_neurons: list[int] | None = None) -> dict[str, Any]:
        """The FitConfig fields of this cell; a recipe's ``neurons = "valid"`` becomes ``valid_neurons``."""
        args = dict(self.recipe_args)
        neurons = args.get("neurons")
        if neurons == "all":
            args["neurons"] = None
        elif neurons == "valid":
            args["neurons"] = valid_neurons
        frontend_kwargs = {} if self.model == "icnet" else dict(self.frontend_args)
        return {**args, "model": self.model, "frontend": self.frontend_kind, "frontend_kwargs": frontend_kwargs,
                "method": self.method, "seed": self.seed}


@dataclass(frozen=True)
class GridSpec:
    """A grid file, read and checked: its cells in a fixed order, and the combinations it leaves out."""

    name: str
    path: Path
    cells: tuple[CellSpec, ...]
    left_out: tuple[str, ...] = field(default=())  # why combinations were not made cells, one line each

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "grid_file": str(self.path), "cells": [c.to_json() for c in self.cells],
                "left_out": list(self.left_out)}


def _fail(path: Path, message: str) -> FitGridError:
    return FitGridError(f"fit grid {path}: {message}")


def _names(path: Path, table: Any, what: str) -> dict[str, Any]:
    if not isinstance(table, dict) or not table:
        raise _fail(path, f"[{what}] must be a table with at least one entry, such as {_EXAMPLES[what]}")
    for name in table:
        if not _NAME.match(name):
            raise _fail(path, f"{what} name {name!r} must be letters, digits, '.', '_' or '-' (up to 48, "
                              "starting with a letter or digit): it names folders")
    return table


def _list(path: Path, doc: dict[str, Any], key: str, default: list[Any], kind: type) -> list[Any]:
    value = doc.get(key, default)
    if not isinstance(value, list) or not value or not all(isinstance(v, kind) and not isinstance(v, bool)
                                                            for v in value):
        raise _fail(path, f"{key} must be a non-empty list of {kind.__name__}s, such as {key} = {default!r}")
    if len(set(value)) != len(value):
        raise _fail(path, f"{key} lists {sorted({v for v in value if value.count(v) > 1})} more than once")
    return value


_EXAMPLES = {
    "datasets": 'ns1 = "data/ns1"',
    "frontends": 'mel = { kind = "mel" }',
    "recipes": "default = {}",
}


def _datasets(path: Path, doc: dict[str, Any]) -> dict[str, str]:
    datasets = _names(path, doc.get("datasets"), "datasets")
    resolved = {}
    for name, where in datasets.items():
        if not isinstance(where, str) or not where:
            raise _fail(path, f"dataset {name!r} must be a path to a response-set folder (got {where!r})")
        folder = Path(where).expanduser()
        resolved[name] = str((folder if folder.is_absolute() else path.parent / folder).resolve())
    return resolved


def _frontends(path: Path, doc: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    from ..frontends.registry import KINDS

    frontends = _names(path, doc.get("frontends"), "frontends")
    parsed = {}
    for name, entry in frontends.items():
        if isinstance(entry, str):
            entry = {"kind": entry}
        kind = entry.get("kind") if isinstance(entry, dict) else None
        if kind not in KINDS:
            raise _fail(path, f"front-end {name!r} needs kind = one of {', '.join(KINDS)} (got {kind!r})")
        args = entry.get("args", {})
        extra = set(entry) - {"kind", "args"}
        if not isinstance(args, dict) or extra:
            raise _fail(path, f"front-end {name!r} takes kind and args = {{ ... }} only"
                              + (f" (got {', '.join(sorted(extra))})" if extra else ""))
        parsed[name] = (kind, args)
    return parsed


def _recipes(path: Path, doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    from ..fitting import FitConfig

    recipes = _names(path, doc.get("recipes", {"default": {}}), "recipes")
    allowed = {f.name for f in fields(FitConfig)} - set(CELL_FIELDS)
    for name, recipe in recipes.items():
        if not isinstance(recipe, dict):
            raise _fail(path, f"recipe {name!r} must be a table of fit settings, such as {{ max_epochs = 50 }}")
        unknown = sorted(set(recipe) - allowed)
        if unknown:
            raise _fail(path, f"recipe {name!r} sets {', '.join(unknown)}, which a recipe cannot set; it may set "
                              f"{', '.join(sorted(allowed))} (the grid's own lists set {', '.join(CELL_FIELDS)})")
        neurons = recipe.get("neurons")
        if neurons is not None and neurons not in ("all", "valid") and not (
                isinstance(neurons, list) and all(isinstance(i, int) and i >= 0 for i in neurons)):
            raise _fail(path, f"recipe {name!r}: neurons must be \"all\", \"valid\" or a list of indices")
    return recipes


def _check_recipe(path: Path, cell: CellSpec) -> None:
    """A recipe value out of range fails the file, not a cell: every cell of that recipe would fail alike."""
    from ..fitting import FitConfig

    try:
        FitConfig(**cell.config_fields(valid_neurons=[])).validate()
    except (TypeError, StrfviewerError) as exc:
        raise _fail(path, f"recipe {cell.recipe!r} with model {cell.model!r}: {one_line(exc)}") from exc


def load_grid(path: str | Path) -> GridSpec:
    """Read and check a grid file; raises :class:`FitGridError` saying what is wrong and how to write it."""
    path = Path(path).expanduser().resolve()
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _fail(path, f"cannot be read ({exc.strerror or exc})") from exc
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise _fail(path, f"is not a TOML file ({one_line(exc)})") from exc
    unknown = sorted(set(doc) - set(GRID_KEYS))
    if unknown:
        raise _fail(path, f"unknown keys {', '.join(unknown)}; a grid has {', '.join(GRID_KEYS)}")
    name = doc.get("name", path.stem)
    if not isinstance(name, str):
        raise _fail(path, f"name must be text (got {name!r})")
    datasets = _datasets(path, doc)
    frontends = _frontends(path, doc)
    models = _list(path, doc, "models", ["linear"], str)
    for model in models:
        if model not in MODEL_KINDS:
            raise _fail(path, f"model {model!r} is not one of {', '.join(MODEL_KINDS)}")
    methods = _list(path, doc, "methods", ["gradient"], str)
    for method in methods:
        if method not in METHOD_NAMES:
            raise _fail(path, f"method {method!r} is not one of {', '.join(METHOD_NAMES)}")
    recipes = _recipes(path, doc)
    seeds = _list(path, doc, "seeds", [0], int)
    cells: list[CellSpec] = []
    left_out: list[str] = []
    if "ridge" in methods and any(m != "linear" for m in models):
        left_out.append(f"ridge fits Linear models only: no ridge cells for "
                        f"{', '.join(m for m in models if m != 'linear')}")
    if "icnet" in models and len(frontends) > 1:
        left_out.append("ICNet has its own encoder: one ICNet cell per data set, method, recipe and seed (front-end "
                        "'icnet'), not one per front-end")
    checked: set[tuple[str, str, str]] = set()
    for dataset, dataset_path in datasets.items():
        for model in models:
            own = {"icnet": ("icnet", {})} if model == "icnet" else frontends
            for frontend, (kind, args) in own.items():
                for method in methods:
                    if method == "ridge" and model != "linear":
                        continue
                    for recipe, recipe_args in recipes.items():
                        for seed in seeds:
                            cell = CellSpec(dataset, dataset_path, frontend, kind, args, model, method, recipe,
                                            recipe_args, seed)
                            if (recipe, model, method) not in checked:
                                _check_recipe(path, cell)
                                checked.add((recipe, model, method))
                            cells.append(cell)
    if not cells:
        raise _fail(path, "makes no cells: " + "; ".join(left_out))
    return GridSpec(name, path, tuple(cells), tuple(left_out))
