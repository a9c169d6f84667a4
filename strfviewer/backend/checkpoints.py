"""Model folders (deepSTRF 0.1.0 layout) and bare state-dict files, loaded without running code from them.

A model folder holds ``config.json`` (constructor arguments + ``_model_class``), ``model.safetensors`` (the
state dict), optionally ``metadata.json`` and ``README.md``. deepSTRF drops module-valued arguments (the
front-end) from ``config.json``; strfviewer records them in ``metadata.json["strfviewer"]``. When neither
says what the front-end is, it is identified from tensor names and shapes, and whatever cannot be inferred
(sample rate, bin width, modes) is reported in a :class:`MissingModelInfoError` for the caller to supply.
Bare ``.pt`` files are read only through ``torch.load(weights_only=True)``: a pickle that needs arbitrary
code is refused, never executed.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import nn

from .durable import fsync_folder
from .errors import (
    CheckpointError,
    ConfigurationError,
    MissingModelInfoError,
    UnsafeCheckpointError,
    one_line,
    short_repr,
)
from .frontends import Frontend, make_wav2spec
from .frontends.modules import frontend_of
from .jsonfile import JsonFault, JsonProblem, read_json_object
from .models import (
    ConvNet2D,
    DNet,
    ICNet,
    Linear,
    LinearNonlinear,
    NetworkReceptiveField,
    StateNet,
    Transformer,
)
from .models.prefilters import DEFAULT_KERNEL_SIZE, AdapTrans, ICAdaptation, prefilter_kind
from .models.readouts import ParametricSTRF, SeparableSTRF, activation_from_state, separable_sequential

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
METADATA_FILE = "metadata.json"
CARD_FILE = "README.md"
MODEL_FILES = (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE, CARD_FILE)
BLOCK = "strfviewer"
MODEL_CLASSES: dict[str, type[nn.Module]] = {"Linear": Linear, "LinearNonlinear": LinearNonlinear,
                                             "NetworkReceptiveField": NetworkReceptiveField, "DNet": DNet,
                                             "ConvNet2D": ConvNet2D, "Transformer": Transformer,
                                             "StateNet": StateNet, "ICNet": ICNet}
_HIDDEN_UNIT_MODELS = ("NetworkReceptiveField", "DNet")  # causal STRFs in core.0, a per-frame linear readout
# Bounds on what metadata.json may ask of a front-end, checked before it is built: beyond them a hostile or
# damaged file would allocate gigabytes (the filters are audio_fs x milliseconds taps long, per channel).
MAX_AUDIO_FS = 1_000_000  # Hz; ultrasound recordings stop well below
MAX_DT_MS = 10_000.0  # ms, for bin widths and every *_ms front-end argument
MAX_FRONTEND_ELEMENTS = 1 << 28  # channels x longest filter in samples, a rough size of the front-end's buffers
# config.json and metadata.json are refused above this size, before they are read: even per-neuron metrics and a
# long training history of thousands of neurons stay far below it.
MAX_JSON_BYTES = 64 << 20


@dataclass
class LoadedModel:
    """A model rebuilt from files, in eval mode, with what the files said about it."""

    model: nn.Module
    model_class: str
    path: Path
    config: dict[str, Any]
    metadata: dict[str, Any]
    info: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def frontend(self) -> Frontend | None:
        """The model's front-end, or None for a spectrogram-input model."""
        return frontend_of(self.model)


def _frontend_block(model: nn.Module) -> dict[str, Any]:
    frontend = frontend_of(model)
    if frontend is None:
        return {"wav2spec": None, "input": "spectrogram"}
    time_key = "dt_ms" if "dt_ms" in frontend.config else "hop_ms"
    kwargs = {k: v for k, v in frontend.config.items() if k not in ("audio_fs", time_key)}
    return {
        "wav2spec": {"kind": frontend.kind, "kwargs": kwargs},
        "audio_fs": frontend.audio_fs,
        "dt_ms": frontend.config[time_key],
        "input": "waveform",
    }


def _module_blocks(model: nn.Module) -> dict[str, Any]:
    """What deepSTRF's files do not keep of a model's modules: the prefilter's kind and kernel length, and an
    attention left unmasked on purpose (a demonstration of a leak)."""
    prefilter = getattr(model, "prefiltering", None)
    kind = prefilter_kind(prefilter) if prefilter is not None else None
    blocks: dict[str, Any] = {} if kind is None else {"prefilter": {"kind": kind, "kernel_size": prefilter.kernel_size}}
    if getattr(model, "mask_future", True) is False:
        blocks["attention_mask"] = False
    return blocks


def save_model(model: nn.Module, folder: str | Path, *, info: dict[str, Any] | None = None,
               card: str | None = None) -> Path:
    """Write ``model`` as a deepSTRF-compatible folder; ``info`` joins the ``strfviewer`` metadata block
    (neurons, dataset, split, metrics, training recipe).

    The folder appears complete or not at all (see :func:`_write_folder`): a full disk or a read-only place
    raises CheckpointError saying so in the user's terms and leaves nothing behind. A previous model in
    ``folder`` is replaced whole; a folder holding other files is refused, never emptied."""
    class_name = type(model).__name__
    if class_name not in MODEL_CLASSES:
        raise CheckpointError(f"cannot save a {class_name}; supported models: {', '.join(MODEL_CLASSES)}")
    config = {**model.init_config, "_model_class": class_name}
    block = {"version": 1, **_frontend_block(model), **_module_blocks(model), **(info or {})}
    metadata = {BLOCK: block}
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    text = card if card is not None else _model_card(class_name, config, block)
    root = Path(folder)
    _write_folder(root, {
        WEIGHTS_FILE: safetensors_bytes(state),
        CONFIG_FILE: (json.dumps(config, indent=2, sort_keys=True) + "\n").encode(),
        METADATA_FILE: (json.dumps(metadata, indent=2, sort_keys=True) + "\n").encode(),
        CARD_FILE: text.encode(),
    })
    return root


def _check_replaceable(root: Path) -> None:
    """A model folder may replace nothing, an empty folder or an earlier model folder: never other files."""
    if not root.exists():
        return
    if not root.is_dir():
        raise CheckpointError(f"{root} exists and is not a folder; choose another place for the model")
    others = sorted(p.name for p in root.iterdir() if p.name not in MODEL_FILES)
    if others:
        listed = ", ".join(others[:5]) + (", …" if len(others) > 5 else "")
        raise CheckpointError(f"{root} already holds files that are not part of a model ({listed}); choose a new "
                              "or empty folder")


def _write_folder(root: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` into a temporary sibling of ``root``, fsync them, then rename it into place (an earlier
    model there is swapped out and removed). On any failure the temporary folder, and parent folders created
    for it, are removed; an OSError becomes a CheckpointError that says what happened and what to do."""
    root = Path(os.path.abspath(root))
    created = [p for p in (root.parent, *root.parent.parents) if not p.exists()]  # deepest first
    tmp: Path | None = None
    try:
        _check_replaceable(root)
        root.parent.mkdir(parents=True, exist_ok=True)
        tmp = _new_sibling(root, "tmp")
        for name, data in files.items():
            _write_durably(tmp / name, data)
        fsync_folder(tmp)
        _move_into_place(tmp, root)
        tmp = None
        fsync_folder(root.parent)
    except BaseException as exc:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        for parent in created:
            try:
                parent.rmdir()
            except OSError:
                break
        if isinstance(exc, OSError):
            raise CheckpointError(_write_failure(root, exc, sum(len(d) for d in files.values()))) from exc
        raise


def _new_sibling(root: Path, tag: str) -> Path:
    """A new hidden folder beside ``root`` (``.NAME.XXXXXXXX.tag``), created with the usual permissions."""
    while True:
        candidate = root.with_name(f".{root.name}.{secrets.token_hex(4)}.{tag}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate


def _write_durably(path: Path, data: bytes) -> None:
    """Create ``path`` with ``data`` and fsync it, so the rename that publishes it never exposes a short file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _move_into_place(tmp: Path, root: Path) -> None:
    """Rename ``tmp`` to ``root``; an existing ``root`` (empty, or an earlier model) is moved aside first and
    put back if the rename fails, then removed."""
    if not root.exists():
        os.rename(tmp, root)
        return
    aside = _new_sibling(root, "old")
    aside.rmdir()
    os.rename(root, aside)
    try:
        os.rename(tmp, root)
    except BaseException:
        os.rename(aside, root)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB" if n_bytes >= 100_000 else f"{max(1, round(n_bytes / 1e3))} kB"


def _write_failure(root: Path, exc: OSError, needed: int) -> str:
    """What a failed write means for the user, and what to do."""
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return (f"could not write the model to {root}: the disk is full ({_size(needed)} needed) — free space or "
                "choose another folder")
    if exc.errno == errno.EROFS:
        return f"{root} is read-only — choose another folder"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"{root} cannot be written (permission denied) — choose another folder"
    return f"could not write the model to {root}: {exc.strerror or exc} — choose another folder"


def _model_card(class_name: str, config: dict[str, Any], block: dict[str, Any]) -> str:
    frontend = block.get("wav2spec")
    source = f"{frontend['kind']} front-end at {block['audio_fs']} Hz, {block['dt_ms']:g} ms bins" if frontend \
        else "spectrogram input"
    lines = [f"# {class_name} encoding model", "", f"{config.get('out_neurons')} neurons, {source}.", ""]
    metrics = block.get("metrics", {}).get("test", {})
    if metrics:
        scalars = {k: v for k, v in sorted(metrics.items()) if isinstance(v, (int, float))}
        lines += ["Test metrics: " + ", ".join(f"{k} {v:.3f}" for k, v in scalars.items()), ""]
    lines += ["Written by strfviewer; loads in strfviewer and in deepSTRF 0.1.0 (`from_pretrained`).", ""]
    return "\n".join(lines)


def _read_json(path: Path, what: str) -> dict[str, Any]:
    def error_for(problem: JsonProblem) -> CheckpointError:
        if problem.fault is JsonFault.TOO_LARGE:
            return CheckpointError(f"{path}: the {what} {problem.reason()} of a model file; it is not one, or it "
                                   "is damaged. Re-save the model.")
        if problem.fault is JsonFault.TOO_DEEP:
            return CheckpointError(f"{path}: the {what} is nested too deeply to be a model file; re-save the model.")
        if problem.fault is JsonFault.NOT_OBJECT:
            return CheckpointError(f"{path}: the {what} must hold a JSON object; fix the file or re-save the model")
        return CheckpointError(f"{path}: the {what} is not valid JSON ({one_line(problem.cause)}). Fix the file in "
                               "a text editor or re-save the model.")

    return read_json_object(path, error_for, max_bytes=MAX_JSON_BYTES)


def _refusal(path: Path, exc: pickle.UnpicklingError) -> str:
    """Why a ``.pt`` file was refused. Torch's tensors-only unpickler names the code a pickled object would
    import ("GLOBAL module.name"); for anything else it cannot tell a foreign pickle from damaged bytes."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    named = next((line for line in lines if "GLOBAL" in line), None)
    fix = "Re-save only the tensors, e.g. torch.save(model.state_dict(), path) or a safetensors file."
    if named is not None:
        return (f"{path} was refused: loading it would run code stored in the file ({named}), and strfviewer "
                f"never executes files. {fix}")
    return (f"{path} cannot be read as plain tensors: it is damaged, or it holds pickled objects that would need "
            f"code to load (strfviewer never runs code from a file). {fix}")


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnsafeCheckpointError(_refusal(path, exc)) from None
    except Exception as exc:
        # The weights-only unpickler never runs code from the file, but on damaged bytes it fails with whatever
        # its parsing hits (EOFError, IndexError, KeyError, struct.error, ...): all of them mean "unreadable".
        raise CheckpointError(
            f"{path}: not a readable PyTorch weights file ({one_line(exc)}); re-save it with "
            "torch.save(model.state_dict(), path) or as safetensors"
        ) from None
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in obj.items()):
        raise CheckpointError(f"{path}: expected a state dict (names -> tensors), got {type(obj).__name__}")
    return obj


def _guess_class(state: dict[str, torch.Tensor]) -> str | None:
    if "decoder.weight" in state or "readout.weight" in state:
        return "ICNet"
    if "core.1.weight" in state and "readout.fc.0.weight" in state:
        return "ConvNet2D"
    if "patchify.weight" in state:
        return "Transformer"
    if any(k.startswith("encoder_layers.") for k in state) and any(k.startswith("rnn.") for k in state):
        return "StateNet"
    if any(k.startswith("core.0.kernel.") for k in state) and "readout.fc.weight" in state:
        return "DNet" if "core.3.d" in state else "NetworkReceptiveField"
    if any(k.startswith("readout.strf.kernel.") for k in state):
        return "LinearNonlinear" if "readout.activation._raw_beta" in state else "Linear"
    return None


def _identify_frontend(state: dict[str, torch.Tensor], path: Path) -> dict[str, Any]:
    """Front-end kind and shape arguments from ``wav2spec.*`` tensors; a tensor of the wrong rank is refused."""
    try:
        return _identify_frontend_shapes(state)
    except (IndexError, TypeError, ZeroDivisionError) as exc:
        names = ", ".join(f"{k} {tuple(v.shape)}" for k, v in state.items() if k.startswith("wav2spec."))[:300]
        raise CheckpointError(
            f"{path}: the front-end tensors have shapes no strfviewer front-end has ({names}; {one_line(exc)}). "
            "The weights file is damaged or from another program; re-export it."
        ) from None


def _identify_frontend_shapes(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    def shape(name: str) -> tuple[int, ...] | None:
        tensor = state.get(f"wav2spec.{name}")
        return None if tensor is None else tuple(tensor.shape)

    if shape("_mel_fb"):
        win = shape("_window")[0]
        return {"kind": "mel", "shape": {"n_mels": shape("_mel_fb")[1], "win": win},
                "guess": {"audio_fs": round(win / 0.010), "dt_ms": 5.0}, "modes": {"compression": "log",
                                                                                   "magnitude": "amplitude"}}
    if shape("_kernels"):
        taps = shape("_kernels")[-1]
        return {"kind": "gammatone", "shape": {"n_filters": shape("_kernels")[0], "taps": taps},
                "guess": {"audio_fs": round(taps / 0.020), "dt_ms": 5.0},
                "modes": {"compression": "log", "rectify": "halfwave"}}
    if shape("center_freq_"):
        taps, pool = shape("_n")[-1], shape("_pool_j")[-1]
        audio_fs = round((taps - 1) / 0.015)
        return {"kind": "leaf", "shape": {"n_filters": shape("center_freq_")[0], "taps": taps, "pool": pool},
                "guess": {"audio_fs": audio_fs, "dt_ms": round(pool / 4 / audio_fs * 1000, 6)}, "modes": {}}
    if shape("low_hz_"):
        return {"kind": "sincnet", "shape": {"n_filters": shape("low_hz_")[0], "taps": shape("_n")[-1]},
                "guess": {"audio_fs": None, "dt_ms": 5.0},
                "modes": {"envelope": False, "activation": "logabs", "env_window_ms": None}}
    raise CheckpointError(
        "the weights hold wav2spec tensors of an unknown front-end (re-save the model with strfviewer, or "
        "describe its front-end): "
        + ", ".join(sorted(k for k in state if k.startswith("wav2spec.")))[:300]
    )


def _frontend_from_shapes(ident: dict[str, Any], audio_fs: int, dt_ms: float, modes: dict[str, Any]) -> Frontend:
    kind, shapes = ident["kind"], ident["shape"]
    ms_per_sample = 1000.0 / audio_fs
    if kind == "mel":
        args = {"n_mels": shapes["n_mels"], "win_ms": shapes["win"] * ms_per_sample, "f_min": 0.0, "f_max": None}
    elif kind == "gammatone":
        args = {"n_filters": shapes["n_filters"], "kernel_ms": shapes["taps"] * ms_per_sample, "f_max": None}
    elif kind == "leaf":
        args = {"n_filters": shapes["n_filters"], "kernel_ms": shapes["taps"] * ms_per_sample,
                "pool_ms": shapes["pool"] * ms_per_sample, "f_max": None}
    else:
        args = {"n_filters": shapes["n_filters"], "kernel_size": shapes["taps"]}
    args.update(modes)
    return make_wav2spec(kind, audio_fs=audio_fs, dt_ms=dt_ms, **args)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_rate_and_bin(path: Path, audio_fs: Any, dt_ms: Any) -> None:
    """audio_fs and dt_ms, when given, are numbers in (0, MAX_AUDIO_FS] Hz and (0, MAX_DT_MS] ms."""
    for name, value, limit, unit in (("audio_fs", audio_fs, MAX_AUDIO_FS, "Hz"), ("dt_ms", dt_ms, MAX_DT_MS, "ms")):
        if value is None:
            continue
        if not _is_number(value) or not 0 < value <= limit:
            raise CheckpointError(
                f"{path}: {name} must be a number above 0 and at most {limit:g} {unit} (got {value!r}); "
                "fix metadata.json or supply the right value"
            )


def _check_frontend_size(path: Path, audio_fs: float, dt_ms: float, kwargs: dict[str, Any]) -> None:
    """Refuse front-end arguments whose filters would be absurdly large, before building them."""
    longest_ms = float(dt_ms)
    channels = 1
    for name, value in kwargs.items():
        if not _is_number(value):
            continue
        if name.endswith("_ms") and not value <= MAX_DT_MS:
            raise CheckpointError(f"{path}: the front-end's {name}={value!r} ms is longer than {MAX_DT_MS:g} ms; "
                                  "fix metadata.json")
        if name.endswith("_ms"):
            longest_ms = max(longest_ms, float(value))
        elif isinstance(value, int):
            if value > MAX_FRONTEND_ELEMENTS:  # also keeps the product below a float's range
                raise CheckpointError(f"{path}: the front-end's {name}={short_repr(value)} is more than "
                                      f"{MAX_FRONTEND_ELEMENTS:,}; fix metadata.json")
            channels = max(channels, value)
    elements = channels * max(1.0, audio_fs * longest_ms / 1000.0)
    if elements > MAX_FRONTEND_ELEMENTS:
        raise CheckpointError(
            f"{path}: the front-end described in metadata.json ({channels} channels, {longest_ms:g} ms at "
            f"{audio_fs:g} Hz) would need about {elements:.3g} filter taps, more than the limit of "
            f"{MAX_FRONTEND_ELEMENTS:,}; fix its arguments in metadata.json"
        )


def _build_frontend(state, block, frontend, audio_fs, dt_ms, path, notes) -> Frontend | None:
    has_tensors = any(k.startswith("wav2spec.") for k in state)
    if frontend is None and isinstance(block.get("wav2spec"), dict):
        frontend = block["wav2spec"]
    audio_fs = audio_fs if audio_fs is not None else block.get("audio_fs")
    dt_ms = dt_ms if dt_ms is not None else block.get("dt_ms")
    _check_rate_and_bin(path, audio_fs, dt_ms)
    if isinstance(frontend, dict) and "kind" in frontend and audio_fs is not None and dt_ms is not None:
        kwargs = frontend.get("kwargs", {})
        if not isinstance(kwargs, dict):
            raise CheckpointError(f"{path}: the front-end's kwargs must be an object of argument names and values "
                                  f"(got {type(kwargs).__name__}); fix metadata.json")
        _check_frontend_size(path, audio_fs, dt_ms, kwargs)
        try:
            return make_wav2spec(frontend["kind"], audio_fs=audio_fs, dt_ms=dt_ms, **kwargs)
        except (ConfigurationError, TypeError, ValueError, OverflowError) as exc:
            raise CheckpointError(f"{path}: the recorded front-end cannot be built: {exc}") from None
    if not has_tensors:
        return None
    ident = _identify_frontend(state, path)
    given_modes = frontend.get("modes", {}) if isinstance(frontend, dict) else {}
    if not isinstance(given_modes, dict):
        raise CheckpointError(f"{path}: the front-end modes must be an object of names and values "
                              f"(got {type(given_modes).__name__}); fix metadata.json")
    modes = {**ident["modes"], **given_modes}
    if audio_fs is None or dt_ms is None:
        given = {"audio_fs": audio_fs, "dt_ms": dt_ms}
        missing = {"kind": ident["kind"], **{k: v for k, v in ident["guess"].items() if given[k] is None},
                   "modes": ident["modes"]}
        shapes = ", ".join(f"{k}={v}" for k, v in ident["shape"].items())
        raise MissingModelInfoError(
            f"{path}: the model has a {ident['kind']} front-end ({shapes})"
            f" but its files do not record the sample rate and bin width. Supply audio_fs and dt_ms (guess: "
            f"{ident['guess']['audio_fs']} Hz, {ident['guess']['dt_ms']} ms) and check the modes "
            f"{ident['modes'] or 'none'}.",
            missing,
        )
    notes.append(f"front-end identified from its tensors as {ident['kind']}; modes assumed: {modes or 'none'}")
    try:
        return _frontend_from_shapes(ident, int(audio_fs), float(dt_ms), modes)
    except (ConfigurationError, TypeError, ValueError, OverflowError) as exc:
        raise CheckpointError(f"{path}: the front-end cannot be rebuilt from its tensors: {exc}") from None


_PREFILTER_NAMES = {"adaptrans": "AdapTrans", "icadaptation": "ICAdaptation"}


def _prefilter_in_state(state: dict[str, torch.Tensor], path: Path) -> tuple[str, int] | None:
    """(kind, bands) of the prefilter whose tensors the weights hold, or None for none. deepSTRF's config.json
    drops the prefilter (a module), so its form is read off the tensor names."""
    names = {k[len("prefiltering."):] for k in state if k.startswith("prefiltering.")}
    if not names:
        return None
    kind = "adaptrans" if {"d_on", "d_off", "p"} <= names else "icadaptation" if names == {"a"} else None
    tensor = state.get("prefiltering." + ("d_on" if kind == "adaptrans" else "a"))
    if kind is None or tensor is None or tensor.dim() != 1:
        listed = ", ".join(f"prefiltering.{n} {tuple(state['prefiltering.' + n].shape)}" for n in sorted(names))
        raise CheckpointError(f"{path}: the prefilter tensors ({listed[:300]}) are of no prefilter strfviewer "
                              "knows (AdapTrans: d_on, d_off, p; ICAdaptation: a, one value per band)")
    return kind, int(tensor.shape[0])


def _prefilter_kernel_size(found: tuple[str, int] | None, block: dict[str, Any], given: int | None) -> int | None:
    """The prefilter's K: given by the caller, recorded by strfviewer, or None when it must be asked for."""
    if found is None:
        return None
    if given is not None:
        return given
    recorded = block.get("prefilter")
    if isinstance(recorded, dict) and recorded.get("kind") == found[0] and "kernel_size" in recorded:
        return recorded["kernel_size"]
    return None


def _prefilter_question(found: tuple[str, int], path: Path) -> MissingModelInfoError:
    name = _PREFILTER_NAMES[found[0]]
    return MissingModelInfoError(
        f"{path}: the model has an {name} prefilter ({found[1]} bands) but its files do not record the "
        f"prefilter's kernel length in frames. Supply prefilter_kernel_size (deepSTRF's make_prefiltering "
        f"gives {DEFAULT_KERNEL_SIZE} for its default 500 Hz lowest band, 776 for 200 Hz).",
        {"prefilter": name, "prefilter_kernel_size": DEFAULT_KERNEL_SIZE},
    )


def _build_prefilter(found: tuple[str, int] | None, kernel_size: int | None) -> nn.Module | None:
    """A prefilter of the found kind and size (its values come with the weights)."""
    if found is None:
        return None
    kind, bands = found
    placeholder = torch.full((bands,), 0.5)
    if kind == "adaptrans":
        return AdapTrans(placeholder, placeholder, kernel_size)
    return ICAdaptation(placeholder, kernel_size)


def _build_model(class_name: str, config: dict[str, Any], state: dict[str, torch.Tensor],
                 frontend: Frontend | None, prefilter: nn.Module | None, path: Path, block: dict[str, Any],
                 notes: list[str]) -> nn.Module:
    if class_name == "ICNet":
        allowed = {"audio_fs", "out_neurons", "dt_ms", "n_filters", "sincnet_kernel_size", "encoder_channels",
                   "encoder_kernel_size", "n_encoder_layers", "bottleneck_channels", "encoder_strides"}
        return ICNet(**{k: v for k, v in config.items() if k in allowed})
    unsupported = [k for k in ("prefiltering", "kernel") if config.get(k) is not None]
    if class_name == "ConvNet2D" and not unsupported:
        return _convnet(config, state, frontend, prefilter, path)
    if class_name == "Transformer":
        return _transformer(config, state, frontend, prefilter, path, block, notes)
    if class_name == "StateNet":
        return _statenet(config, state, frontend, prefilter, path, notes)
    prefix = "core.0.kernel." if class_name in _HIDDEN_UNIT_MODELS else "readout.strf.kernel."
    kernel, outputs, bands, lags = _kernel_from_state(state, prefix, config, path)
    if unsupported or kernel is _NO_KERNEL:
        raise CheckpointError(
            f"{path}: this {class_name} uses parts strfviewer cannot rebuild yet "
            f"({', '.join(unsupported) or 'an STRF kernel of an unknown form'})."
        )
    kwargs: dict[str, Any] = {"wav2spec": frontend, "prefiltering": prefilter}
    sizes = [("n_frequency_bands", bands), ("temporal_window_size", lags)]
    if class_name in _HIDDEN_UNIT_MODELS:
        readout = state.get("readout.fc.weight")
        if readout is None or readout.dim() != 2:
            raise CheckpointError(f"{path}: a {class_name} needs readout.fc.weight (neurons, hidden units); "
                                  "the weights file lacks it or holds another shape")
        sizes += [("n_hidden", outputs), ("out_neurons", (int(readout.shape[0]), "readout.fc.weight"))]
        if class_name == "DNet":
            kwargs.update({k: config[k] for k in ("init_tau", "decay_input") if k in config})
    else:
        sizes.append(("out_neurons", outputs))
    kwargs.update(_agreed_sizes(path, config, state, sizes))
    if kernel is not None:
        kwargs["kernel"] = kernel
    activation = _output_activation(state, config, kwargs["out_neurons"])
    if activation is not None:
        kwargs["output_activation"] = activation
    return MODEL_CLASSES[class_name](**kwargs)


def _output_activation(state: dict[str, torch.Tensor], config: dict[str, Any], out_neurons: int) -> nn.Module | None:
    """The output activation the tensors hold; None (the class default) when config.json says the default
    was used; otherwise a parameterless module config.json does not name, taken as the identity (said in a
    note), so that a model whose default is a parametric softplus still loads."""
    activation = activation_from_state(state, out_neurons)
    if activation is not None or "output_activation" in config:
        return activation
    return nn.Identity()


def _convnet(config: dict[str, Any], state: dict[str, torch.Tensor], frontend: Frontend | None,
             prefilter: nn.Module | None, path: Path) -> nn.Module:
    """A ConvNet2D sized by its tensors (the band count by config.json: the tensors keep only what is left
    after the convolutions)."""
    first, hidden, out = (state.get(k) for k in ("core.1.weight", "readout.fc.0.weight", "readout.fc.2.weight"))
    if first is None or first.dim() != 4 or hidden is None or hidden.dim() != 2 or out is None or out.dim() != 2:
        raise CheckpointError(f"{path}: a ConvNet2D needs core.1.weight (channels, inputs, bands, frames), "
                              "readout.fc.0.weight and readout.fc.2.weight; the weights file lacks them or holds "
                              "other shapes")
    c_hidden, _, k_f, k_t = (int(n) for n in first.shape)
    bands = int(hidden.shape[1]) // max(c_hidden, 1) + 3 * (k_f - 1)
    stored = _agreed_sizes(path, config, state, [
        ("kernel_size", ([k_f, k_t], "core.1.weight")), ("c_hidden", (c_hidden, "core.1.weight")),
        ("n_hidden", (int(hidden.shape[0]), "readout.fc.0.weight")),
        ("out_neurons", (int(out.shape[0]), "readout.fc.2.weight")),
        ("n_frequency_bands", (bands, "readout.fc.0.weight"))])
    activation = _output_activation(state, config, stored["out_neurons"])
    return ConvNet2D(**stored, output_activation=activation, prefiltering=prefilter, wav2spec=frontend)


def _transformer(config: dict[str, Any], state: dict[str, torch.Tensor], frontend: Frontend | None,
                 prefilter: nn.Module | None, path: Path, block: dict[str, Any], notes: list[str]) -> nn.Module:
    """A Transformer sized by its tensors; the head count and the context window are in no tensor, so they come
    from config.json (deepSTRF's defaults, said in a note, when there is none)."""
    patches, readout = state.get("patchify.weight"), state.get("readout.fc.weight")
    if patches is None or patches.dim() != 4 or readout is None or readout.dim() != 2:
        raise CheckpointError(f"{path}: a Transformer needs patchify.weight (embedding, inputs, bands, frames) and "
                              "readout.fc.weight (neurons, token size); the weights file lacks them or holds other "
                              "shapes")
    embedding, _, k_f, k_t = (int(n) for n in patches.shape)
    patch_count = int(readout.shape[1]) // max(embedding, 1)
    bands = k_f * patch_count
    layers = {k.split(".")[2] for k in state if k.startswith("tsfm.layers.")}
    given_patch = config.get("freq_patch_size")
    stored = _agreed_sizes(path, config, state, [
        ("n_frequency_bands", (bands, "readout.fc.weight")), ("time_patch_size", (k_t, "patchify.weight")),
        ("embedding_dim", (embedding, "patchify.weight")), ("n_layers", (len(layers), "tsfm.layers.*")),
        ("out_neurons", (int(readout.shape[0]), "readout.fc.weight")),
        ("freq_patch_size", (None if given_patch is None and k_f == bands else k_f, "patchify.weight"))])
    for name, default in (("n_heads", 1), ("context_window", None)):
        if name not in config:
            notes.append(f"config.json does not give the Transformer's {name}; deepSTRF's default ({default}) is "
                         "assumed")
    masked = block.get("attention_mask", True) is not False
    if not masked:
        notes.append("this Transformer's attention is deliberately not masked: it sees the future (a model built "
                     "to show what a leak looks like)")
    return Transformer(**stored, n_heads=config.get("n_heads", 1), context_window=config.get("context_window"),
                       output_activation=_output_activation(state, config, stored["out_neurons"]),
                       prefiltering=prefilter, wav2spec=frontend, mask_future=masked)


def _backbone_in_state(state: dict[str, torch.Tensor], hidden: int) -> str | None:
    """The StateNet backbone its ``rnn.*`` tensors belong to (GRU, LSTM and RNN by their gate rows)."""
    if "rnn.cell.e_x" in state:
        return "LMU"
    if "rnn.A_log" in state:
        return "Mamba"
    if any(k.startswith("rnn.layer.") for k in state):
        return "S4"
    weight = state.get("rnn.weight_ih_l0")
    if weight is None or weight.dim() != 2 or hidden < 1:
        return None
    return {3: "GRU", 4: "LSTM", 1: "RNN"}.get(int(weight.shape[0]) // hidden)


def _statenet(config: dict[str, Any], state: dict[str, torch.Tensor], frontend: Frontend | None,
              prefilter: nn.Module | None, path: Path, notes: list[str]) -> nn.Module:
    """A StateNet whose encoder form, backbone and sizes are read off its tensors where they show; the stride
    (and, without config.json, the band count) come from config.json or the front-end."""
    c_in = int(getattr(prefilter, "out_channels", 1)) if prefilter is not None else 1
    readout = state.get("readout.fc.weight")
    if readout is None or readout.dim() != 2:
        raise CheckpointError(f"{path}: a StateNet needs readout.fc.weight (neurons, hidden size); the weights file "
                              "lacks it or holds another shape")
    hidden = int(readout.shape[1])
    sizes: list[tuple[str, Size]] = [("out_neurons", (int(readout.shape[0]), "readout.fc.weight"))]
    local, dense, conv = (state.get(k) for k in ("encoder_layers.0.weights", "encoder_layers.1.weight",
                                                 "encoder_layers.0.weight"))
    if local is not None and local.dim() == 3:
        connectivity, key, channels = "LC", "encoder_layers.0.weights", int(local.shape[0])
        sizes.append(("kernel_size", (int(local.shape[1]) // c_in, key)))
    elif conv is not None and conv.dim() == 3:
        connectivity, key, channels = "CONV", "encoder_layers.0.weight", int(conv.shape[0])
        sizes.append(("kernel_size", (int(conv.shape[2]), key)))
    elif dense is not None and dense.dim() == 2 and "encoder_layers.3.ln.weight" in state:
        connectivity, key = "FC", "encoder_layers.1.weight"
        channels = int(state["encoder_layers.3.ln.weight"].shape[0])
        sizes.append(("n_frequency_bands", (int(dense.shape[1]) // c_in, key)))
    else:
        listed = ", ".join(k for k in state if k.startswith("encoder_layers."))[:300]
        raise CheckpointError(f"{path}: the StateNet's encoder tensors ({listed or 'none'}) are of no encoder "
                              "strfviewer knows (LC: encoder_layers.0.weights; FC: encoder_layers.1.weight; CONV: "
                              "encoder_layers.0.weight)")
    sizes += [("hidden_channels", (channels, key)), ("connectivity", (connectivity, key))]
    stored = _agreed_sizes(path, config, state, sizes)
    inferred = _backbone_in_state(state, hidden)
    rnn_type = config.get("rnn_type", inferred)
    if rnn_type is None:
        raise CheckpointError(f"{path}: the StateNet's rnn.* tensors are of no backbone strfviewer knows; set "
                              "rnn_type in config.json (GRU, LSTM, RNN or LMU)")
    kwargs: dict[str, Any] = {"stride": config.get("stride", 3), "rnn_type": rnn_type,
                              "temporal_window_size": config.get("temporal_window_size", 1)}
    kwargs["kernel_size"] = stored.pop("kernel_size", config.get("kernel_size", 7))
    if "n_frequency_bands" not in stored:
        bands = config.get("n_frequency_bands")
        if bands is None and frontend is not None:
            bands = frontend.out_channels
        if bands is None:
            positions = hidden // max(channels, 1)
            bands = (positions - 1) * kwargs["stride"] + kwargs["kernel_size"]
            notes.append(f"config.json does not give the StateNet's band count or stride: {bands} bands "
                         f"(stride {kwargs['stride']}) are assumed from its {positions} encoder positions")
        stored["n_frequency_bands"] = bands
    return StateNet(**stored, **kwargs, output_activation=_output_activation(state, config, stored["out_neurons"]),
                    prefiltering=prefilter, wav2spec=frontend)


def _agreed_sizes(path: Path, config: dict[str, Any], state: dict[str, torch.Tensor],
                  sizes: list[tuple[str, Size]]) -> dict[str, Any]:
    """The sizes the weights hold, by argument name, once config.json (where it gives them) agrees."""
    for name, (stored, key) in sizes:
        value = config.get(name, stored)
        if value != stored or isinstance(value, bool):
            raise CheckpointError(
                f"{path}: the weights do not fit the model the files describe: config.json says "
                f"{name}={short_repr(value)} but the weights hold {short_repr(stored)} "
                f"({key} {tuple(state[key].shape) if key in state else ''}); correct or delete {name} in "
                "config.json"
            )
    return {name: stored for name, (stored, _) in sizes}


_NO_KERNEL = nn.Identity()  # stands for "tensors of no kernel form strfviewer knows"
Size = tuple[Any, str]  # a size (kernel_size: two) and the tensor it was read from


def _kernel_from_state(state: dict[str, torch.Tensor], prefix: str, config: dict[str, Any], path: Path) \
        -> tuple[nn.Module | None, Size, Size, Size]:
    """The STRF kernel whose tensors sit under ``prefix`` (None: a plain Conv2d) and the (outputs, bands,
    lags) it holds. deepSTRF records no kernel in config.json; its form is read off the tensor names."""
    def tensor(name: str, dims: int) -> torch.Tensor:
        value = state[prefix + name]
        if value.dim() != dims:
            raise CheckpointError(f"{path}: {prefix}{name} has shape {tuple(value.shape)}, not {dims}-D; the weights "
                                  "file is damaged or from another model")
        return value

    def size(name: str, dims: int, axis: int) -> Size:
        return int(tensor(name, dims).shape[axis]), prefix + name

    names = {k[len(prefix):] for k in state if k.startswith(prefix)}
    bias = "bias" in names
    if {"P", "SIG", "weight"} <= names:
        weight = tensor("weight", 3)
        missing = [k for k in ("n_frequency_bands", "temporal_window_size") if not isinstance(config.get(k), int)]
        if missing:
            raise CheckpointError(f"{path}: a parametric (Gaussian) STRF kernel keeps no grid size in its tensors; "
                                  f"config.json must give {' and '.join(missing)}")
        bands, lags = config["n_frequency_bands"], config["temporal_window_size"]
        kernel = ParametricSTRF(bands, lags, int(weight.shape[1]), int(weight.shape[0]), int(weight.shape[2]), bias)
        return kernel, size("weight", 3, 0), (bands, "config.json"), (lags, "config.json")
    if {"weight_f", "weight_t"} <= names:
        f, t = tensor("weight_f", 4), tensor("weight_t", 4)
        kernel = SeparableSTRF(int(f.shape[2]), int(t.shape[3]), int(f.shape[1]), int(f.shape[0]), bias)
        return kernel, size("weight_f", 4, 0), size("weight_f", 4, 2), size("weight_t", 4, 3)
    if {"0.weight", "1.weight"} <= names:
        f, t = tensor("0.weight", 4), tensor("1.weight", 4)
        kernel = separable_sequential(int(f.shape[2]), int(t.shape[3]), int(f.shape[1]), int(f.shape[0]))
        return kernel, size("0.weight", 4, 0), size("0.weight", 4, 2), size("1.weight", 4, 3)
    if "weight" in names:
        return None, size("weight", 4, 0), size("weight", 4, 2), size("weight", 4, 3)
    return _NO_KERNEL, (0, ""), (0, ""), (0, "")


def _locate(path: Path) -> tuple[Path, Path | None]:
    """(weights file, folder holding config.json or None) for a folder, a file in one, or a bare file."""
    if path.is_dir():
        weights = path / WEIGHTS_FILE
        if not weights.is_file():
            raise CheckpointError(f"{path} is not a model folder: it has no {WEIGHTS_FILE}")
        return weights, path
    if not path.exists():
        raise CheckpointError(f"{path} does not exist")
    if path.name in (CONFIG_FILE, METADATA_FILE):
        return _locate(path.parent)
    folder = path.parent if (path.parent / CONFIG_FILE).is_file() else None
    return path, folder


def load_model(
    path: str | Path,
    *,
    description: dict[str, Any] | None = None,
    frontend: dict[str, Any] | None = None,
    audio_fs: int | None = None,
    dt_ms: float | None = None,
    prefilter_kernel_size: int | None = None,
) -> LoadedModel:
    """Rebuild a model from a folder, a file in it, or a bare ``.pt`` / ``.safetensors`` state dict.

    ``description`` stands in for ``config.json`` where there is none (``_model_class`` and constructor
    arguments); ``frontend`` (``{"kind": ..., "kwargs": {...}}`` or ``{"modes": {...}}``), ``audio_fs`` and
    ``dt_ms`` (and ``prefilter_kernel_size``, a prefilter's K in frames) supply what the files do not record.
    Raises :class:`MissingModelInfoError` listing what is still needed, :class:`UnsafeCheckpointError` for
    files that would execute code.
    """
    path = Path(path)
    weights, folder = _locate(path)
    config = dict(description or {})
    metadata: dict[str, Any] = {}
    if folder is not None:
        if (folder / CONFIG_FILE).is_file():
            config = {**_read_json(folder / CONFIG_FILE, "model configuration"), **config}
        if (folder / METADATA_FILE).is_file():
            metadata = _read_json(folder / METADATA_FILE, "metadata")
    state = _read_weights(weights)
    class_name = config.pop("_model_class", None) or None
    if class_name is None:
        raise MissingModelInfoError(
            f"{path}: nothing says which model these weights belong to. Supply a description with "
            f"_model_class (guess from the tensor names: {_guess_class(state)}) and its constructor arguments.",
            {"_model_class": _guess_class(state)},
        )
    if not isinstance(class_name, str) or class_name not in MODEL_CLASSES:
        raise CheckpointError(
            f"{path}: model class {short_repr(class_name)} is not supported (supported: {', '.join(MODEL_CLASSES)}); "
            "set _model_class in config.json to one of them"
        )
    block = metadata.get(BLOCK, {}) if isinstance(metadata.get(BLOCK), dict) else {}
    notes: list[str] = []
    built_frontend = prefilter = None
    if class_name != "ICNet":
        found = _prefilter_in_state(state, path)
        kernel_size = _prefilter_kernel_size(found, block, prefilter_kernel_size)
        try:
            built_frontend = _build_frontend(state, block, frontend, audio_fs, dt_ms, path, notes)
        except MissingModelInfoError as exc:
            if found is None or kernel_size is not None:
                raise
            question = _prefilter_question(found, path)
            raise MissingModelInfoError(f"{exc} {str(question).split(': ', 1)[1]}",
                                        {**exc.missing, **question.missing}) from None
        if found is not None and kernel_size is None:
            raise _prefilter_question(found, path)
        try:
            prefilter = _build_prefilter(found, kernel_size)
        except ConfigurationError as exc:
            raise CheckpointError(f"{path}: the prefilter cannot be built: {exc}") from None
    if class_name != "ICNet" and "output_activation" not in config \
            and not any(k.startswith("readout.activation.") for k in state):
        notes.append("the output activation is a module without parameters that config.json does not name "
                     "(identity, sigmoid, ReLU…); identity is assumed, so the rates may differ from the model's")
    try:
        model = _build_model(class_name, config, state, built_frontend, prefilter, path, block, notes)
    except (ConfigurationError, TypeError, ValueError, OverflowError) as exc:
        raise CheckpointError(
            f"{path}: config.json does not describe a valid {class_name}: {one_line(exc)}. Fix config.json or "
            "re-save the model."
        ) from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(
            f"{path}: the weights do not fit the model the files describe ({one_line(exc, 400)}). Check the front-end "
            "arguments and the model class."
        ) from None
    model.eval()
    return LoadedModel(model, class_name, path, {**config, "_model_class": class_name}, metadata, block, notes)
