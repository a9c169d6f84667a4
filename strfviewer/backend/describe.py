"""One-paragraph descriptions of anything strfviewer opens, for ``strfviewer info PATH`` and tooltips."""

from __future__ import annotations

from pathlib import Path

from .checkpoints import CONFIG_FILE, WEIGHTS_FILE, load_model
from .data.audio import check_audio
from .data.responses import DATASET_FILE, load_response_set
from .errors import MissingModelInfoError, StrfviewerError
from .session import SCHEMA_VERSION, SESSION_SUFFIX, load_session


def _response_set(path: Path) -> str:
    rs = load_response_set(path)
    n, s, r, t = rs.shape
    splits = ", ".join(f"{k} {len(v)}" for k, v in rs.splits.items()) or "none"
    return (f"response set {rs.name!r}: {n} neurons ({len(rs.valid_neurons())} valid), {s} stimuli, up to {r} "
            f"repeats of {t} bins of {rs.dt_ms:g} ms; splits: {splits}")


def _model(path: Path) -> str:
    try:
        loaded = load_model(path)
    except MissingModelInfoError as exc:
        return f"model weights that need more information to load: {exc} (missing: {exc.missing})"
    model = loaded.model
    n_params = sum(p.numel() for p in model.parameters())
    frontend = loaded.frontend
    source = (f"{frontend.kind} front-end, {frontend.out_channels} channels, {frontend.audio_fs} Hz, hop "
              f"{frontend.hop}" if frontend is not None else "spectrogram input")
    text = f"{loaded.model_class} model: {model.O} neurons, {source}, {n_params:,} parameters"
    metrics = loaded.info.get("metrics")
    test = metrics.get("test") if isinstance(metrics, dict) else None
    score = test.get("cc_norm_mean") if isinstance(test, dict) else None
    if isinstance(score, (int, float)) and not isinstance(score, bool):  # metadata.json is free text: check
        text += f"; test cc_norm {score:.3f}"
    return text


def _session(path: Path) -> str:
    """Read through load_session, so ``info`` judges a session exactly as the app does."""
    session = load_session(path)
    lists = ("audio", "models", "response_sets")
    parts = [f"{key}: {len(getattr(session, key))}" for key in lists if getattr(session, key)]
    return f"session (schema {SCHEMA_VERSION}); " + (", ".join(parts) or "empty")


def describe_path(path: Path) -> str:
    """What ``path`` is and its key numbers; raises StrfviewerError with a one-line reason if it is unusable."""
    if not path.exists():
        raise StrfviewerError(f"{path} does not exist")
    if path.is_dir():
        if (path / DATASET_FILE).is_file():
            return _response_set(path)
        if (path / WEIGHTS_FILE).is_file() or (path / CONFIG_FILE).is_file():
            return _model(path)
        raise StrfviewerError(f"{path} is a folder but neither a response set ({DATASET_FILE}) nor a model "
                              f"folder ({WEIGHTS_FILE})")
    if path.name == DATASET_FILE:
        return _response_set(path.parent)
    if path.name.endswith(SESSION_SUFFIX):
        return _session(path)
    if path.suffix in (".pt", ".pth", ".safetensors") or path.name == CONFIG_FILE:
        return _model(path)
    if path.suffix.lower() == ".nwb":
        from .data.nwb import inspect_nwb

        return inspect_nwb(path).describe()
    return _audio(path)


def _audio(path: Path) -> str:
    """Decoded, not only read from the header: what opening the file would refuse raises here too (non-finite
    samples), and a file shorter than its header says gets a warning line."""
    info = check_audio(path)
    text = (f"audio: {info['format']} {info['subtype']}, {info['channels']} channel(s), {info['frames']} frames at "
            f"{info['sample_rate']} Hz ({info['duration_s']:.3f} s)")
    return "\n".join([text, *(f"warning: {note}" for note in info["notes"])])
