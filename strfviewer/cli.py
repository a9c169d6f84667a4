"""The ``strfviewer`` command line: ``info`` describes files, ``fit`` trains a model on a response set."""

from __future__ import annotations

import argparse
import contextlib
import logging
import platform
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .backend.errors import StrfviewerError
from .backend.frontends import KINDS
from .backend.model_kinds import MODEL_KINDS, NETWORK_ARGUMENTS, described_arguments
from .backend.named_values import parse_named_values

log = logging.getLogger("strfviewer")


def _environment_text(audio_fs: int, dt_ms: float) -> str:
    import numpy
    import torch
    import torchaudio

    from .backend.frontends import FRONTEND_CLASSES, make_wav2spec

    lines = [
        f"strfviewer {__version__}",
        f"python {platform.python_version()} on {platform.system()} {platform.machine()}",
        f"torch {torch.__version__}, torchaudio {torchaudio.__version__}, numpy {numpy.__version__}",
        f"threads: {torch.get_num_threads()}, CUDA available: {torch.cuda.is_available()}",
        "",
        f"Front-ends (defaults at audio_fs={audio_fs} Hz, dt={dt_ms:g} ms):",
    ]
    for kind, cls in FRONTEND_CLASSES.items():
        module = make_wav2spec(kind, audio_fs=audio_fs, dt_ms=dt_ms)
        n_params = sum(p.numel() for p in module.parameters())
        lines.append(
            f"  {kind:<10} {cls.__name__:<22} channels={module.out_channels:<4} hop={module.hop:<5} "
            f"learnable parameters={n_params}"
        )
    return "\n".join(lines)


def _index_list(text: str) -> list[int]:
    """'0-13' or '14,15,16' or '0-3,7' -> indices."""
    out: list[int] = []
    for part in filter(None, text.split(",")):
        if "-" in part:
            first, last = part.split("-", 1)
            out.extend(range(int(first), int(last) + 1))
        else:
            out.append(int(part))
    return out


def _number_list(text: str) -> list[float]:
    """'0.01,1,100' -> numbers; ConfigurationError naming what is not a number."""
    from .backend.errors import ConfigurationError

    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigurationError(f"--lambdas takes comma-separated numbers such as 0.01,1,100 (got {text!r})") \
            from None


def _run_fit(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .backend.data.responses import load_response_set
    from .backend.errors import ConfigurationError
    from .backend.fitting import FitConfig, fit
    from .backend.frontends.band import cf_coverage
    from .backend.jobs import CancelledError
    from .backend.model_folders import OutputFolder, default_model_folder

    rs = load_response_set(args.responses)
    if args.neurons == "all":
        neurons = None
    elif args.neurons == "valid":
        neurons = rs.valid_neurons()
    else:
        neurons = _index_list(args.neurons)
    frontend_kwargs = parse_named_values(args.frontend_arg, "--frontend-arg")
    model_kwargs = parse_named_values(args.model_arg, "--model-arg")
    if model_kwargs and args.model != "icnet" and args.model not in NETWORK_ARGUMENTS:
        raise ConfigurationError(f"--model-arg applies to --model icnet, {', '.join(NETWORK_ARGUMENTS)} only; "
                                 "drop it or choose one of them")
    icnet_kwargs = model_kwargs if args.model == "icnet" else {}
    network_kwargs = model_kwargs if args.model in NETWORK_ARGUMENTS else {}
    cfg = FitConfig(
        model=args.model, frontend=args.frontend, frontend_kwargs=frontend_kwargs,
        spectrogram_input=args.spectrogram_input, audio_fs=args.audio_fs, temporal_window_size=args.window,
        neurons=neurons, train=_index_list(args.train) if args.train else None,
        val=_index_list(args.val) if args.val else None, test=_index_list(args.test) if args.test else None,
        n_bins=args.bins, smooth=not args.no_smooth, loss=args.loss, lr=args.lr, weight_decay=args.weight_decay,
        max_epochs=args.max_epochs, patience=args.patience, seed=args.seed, device=args.device,
        icnet_kwargs=icnet_kwargs, network_kwargs=network_kwargs, method=args.method,
        ridge_lambdas=_number_list(args.lambdas) if args.lambdas else None, ridge_folds=args.folds,
        ridge_shared_lambda=args.shared_lambda, ridge_smoothness=args.smoothness,
        ridge_centre_stimuli=not args.pooled_means,
        significance_shifts=args.shifts,
    )
    cfg.validate()
    coverage = None if cfg.model == "icnet" else cf_coverage(rs, cfg.frontend, frontend_kwargs, neurons)
    if coverage is not None:
        log.warning("%s (--frontend-arg %s=%g)", coverage.message(), coverage.argument, coverage.fix_value)
    target = OutputFolder.claim(Path(args.out) if args.out else default_model_folder(rs, cfg.model, cfg.frontend))
    cancel = threading.Event()
    ridge = cfg.method == "ridge"  # its steps are the folds and the final fit, not epochs
    bar = tqdm(total=cfg.ridge_folds + 1 if ridge else cfg.max_epochs, unit="step" if ridge else "epoch",
               disable=args.quiet, file=sys.stderr)

    def progress(done: int, total: int, message: str) -> None:
        bar.total = total
        bar.n = done
        bar.set_postfix_str(message)
        bar.refresh()

    try:
        result = fit(rs, cfg, out=target.path, progress=progress, cancel=cancel)
    except BaseException as exc:
        cancel.set()
        target.discard()  # a fit that did not finish leaves no folder behind
        if isinstance(exc, KeyboardInterrupt):
            log.error("cancelled; nothing was written")
        if isinstance(exc, (KeyboardInterrupt, CancelledError)):
            return 130
        raise
    finally:
        bar.close()
    test = result.test_metrics
    if result.diagnostics is not None:
        chosen = result.diagnostics["chosen_lambda"]
        summary = (f"ridge, {len(result.diagnostics['folds'])}-fold cross-validation, lambda {min(chosen):.3g} to "
                   f"{max(chosen):.3g} (median {sorted(chosen)[len(chosen) // 2]:.3g}), {result.seconds:.1f} s; "
                   f"val cc_norm {result.val_metrics['cc_norm_mean']:.3f} (part of the cross-validation pool)")
    else:
        summary = (f"best epoch {result.best_epoch} of {result.epochs_run}, {result.seconds:.1f} s; "
                   f"val cc_norm {result.val_metrics['cc_norm_mean']:.3f}")
    if test:
        summary += f"; test cc_norm {test['cc_norm_mean']:.3f}, cc {test['cc_mean']:.3f}"
        if "p_value" in test:
            significant = sum(1 for p in test["p_value"] if p is not None and p < 0.05)
            summary += (f"; {significant} of {len(test['p_value'])} neurons p < 0.05 "
                        f"({test['significance_shifts']} circular shifts)")
            if test["unreliable_cc_norm"]:
                summary += f"; {len(test['unreliable_cc_norm'])} with cc_max too low for cc_norm to be trusted"
    sys.stdout.write(f"{summary}\nwrote {result.folder}\n")
    return 0


def _run_import(args: argparse.Namespace) -> int:
    from .backend.data.nwb import inspect_nwb
    from .backend.data.sources import ImportChoice, read_recording

    suffix = Path(args.source).suffix.lower()
    if suffix == ".nwb" and args.table is None and args.column is None:
        summary = inspect_nwb(args.source)
        if len(summary.candidates) > 1 and summary.guess is not None:
            others = ", ".join(c.label for c in summary.candidates if c != summary.guess)
            log.info("presentations from %s (also possible: %s; choose with --table/--column)",
                     summary.guess.label, others)
    imported = read_recording(args.source, ImportChoice(args.dt_ms, args.table, args.column, args.sounds))
    return _imported(imported, args.out, imported.source.get("presentations", Path(args.source).name))


def _run_export(args: argparse.Namespace) -> int:
    import platformdirs
    from tqdm import tqdm

    from .backend.checkpoints import load_model
    from .backend.data.sources import ImportChoice, open_responses
    from .backend.export import export_with_models

    cache = platformdirs.user_cache_path("strfviewer", appauthor=False) / "imports"
    responses = open_responses(args.responses, ImportChoice(args.dt_ms, args.table, args.column, args.sounds),
                               cache)
    models = [load_model(Path(m)) for m in args.model or []]
    with tqdm(total=1, desc="export", unit="step", leave=False) as bar:
        def progress(done: int, total: int, message: str) -> None:
            bar.total, bar.n = total, done
            bar.set_postfix_str(message)
            bar.refresh()

        path, left_out = export_with_models(responses, models, args.out, progress)
    for note in left_out:
        log.warning("left out %s", note)
    sys.stdout.write(f"{len(responses.neurons)} neurons, {len(responses.stimuli)} stimuli and the predictions of "
                     f"{len(models) - len(left_out)} model(s)\nwrote {path}\n")
    return 0


def _run_fit_grid(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .backend.grid import load_grid
    from .backend.grid.results import matrix_text, read_grid
    from .backend.grid.run import run_grid

    grid = load_grid(args.grid)
    with contextlib.suppress(ImportError):
        import distributed  # noqa: F401 - it sets its loggers' levels when imported: quieten them after that
    for name in ("distributed", "tornado"):  # their INFO lines would bury the progress bar
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("bokeh").setLevel(logging.ERROR)  # its warning of a wildcard origin: the dashboard is local
    for line in grid.left_out:
        log.info("%s", line)
    bar = tqdm(total=len(grid.cells), unit="cell", disable=args.quiet, file=sys.stderr)

    def started(cluster: Any, pending: int, skipped: int) -> None:
        threads = f", {cluster.torch_threads} torch threads each" if cluster.torch_threads else ""
        log.info("%d cells: %d finished before, %d to fit on %d Dask workers (%s%s)", len(grid.cells), skipped,
                 pending, cluster.workers, cluster.scheduler, threads)
        log.info("Dask dashboard: %s", cluster.dashboard or "not available (pip install bokeh to see it)")
        bar.update(skipped)

    failed = 0

    def finished(outcome: Any) -> None:
        nonlocal failed
        if outcome.status == "failed":
            failed += 1
            bar.write(f"cell {outcome.cell_id} failed: {outcome.error}", file=sys.stderr)
        bar.update(1)
        bar.set_postfix_str(f"{failed} failed" if failed else "")

    try:
        run = run_grid(grid, args.out, scheduler=args.scheduler, workers=args.workers, retries=args.retries,
                       on_start=started, on_outcome=finished)
    finally:
        bar.close()
    results = read_grid(run.root)
    for matrix in results.matrices:
        sys.stdout.write(matrix_text(matrix) + "\n\n")
    sys.stdout.write(f"{results.count('done')} of {len(results.cells)} cells done ({run.skipped} before this run), "
                     f"{results.count('failed')} failed; results in {run.files.csv}"
                     + (f" and {run.files.parquet.name}" if run.files.parquet else "") + "\n")
    if run.interrupted:
        log.error("interrupted; rerun the same command to fit the %d cells left", results.count("pending"))
        return 130
    return 1 if results.count("failed") else 0


def _imported(imported: Any, out: str, source: str) -> int:
    from .backend.data.responses import load_response_set
    from .backend.data.trials import save_imported

    folder = save_imported(imported, out)
    load_response_set(folder)  # what was written must read back
    counts = imported.binned.counts
    sys.stdout.write(f"{counts.shape[0]} neurons, {counts.shape[1]} stimuli, up to {counts.shape[2]} repeats, "
                     f"{imported.dt_ms:g} ms bins from {source}\nwrote {folder}\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="strfviewer",
        description="See what an auditory front-end and an encoding model hear.",
    )
    parser.add_argument("--version", action="version", version=f"strfviewer {__version__}")
    sub = parser.add_subparsers(dest="command")
    info = sub.add_parser("info", help="describe a file or folder, or print versions and the front-ends")
    info.add_argument("path", nargs="?", help="audio file, response set, model folder or weights file")
    info.add_argument("--audio-fs", type=int, default=48000, help="sample rate for the front-end listing (Hz)")
    info.add_argument("--dt-ms", type=float, default=5.0, help="frame period for the front-end listing (ms)")

    source = sub.add_parser("import", help="write a response set from a recording (an NWB file, a CSV or "
                                           "Parquet table of spikes, a folder of spike-time text files)")
    source.add_argument("source", help="an NWB file (sounds as stimulus series or files beside it, a table of "
                                       "presentations, sorted units); a CSV or Parquet table of spikes with columns "
                                       "unit, stimulus, trial, time_s (seconds after the trial's onset); or a "
                                       "folder of cells with spikeK/stimK text files (CRCNS aa-1, aa-2)")
    source.add_argument("--sounds", help="table or text files: the folder of the sound files they name "
                                         "(default for a table: beside it)")
    source.add_argument("--out", required=True, help="the response-set folder to create")
    source.add_argument("--dt-ms", type=float, default=5.0, help="bin width (ms)")
    source.add_argument("--table", help="the presentations' table (default: the best guess; see 'info')")
    source.add_argument("--column", help="the table's column that names each presentation's sound")

    export = sub.add_parser("export", help="write a response set and models' predictions of it to an NWB file")
    export.add_argument("responses", help="response-set folder, or a recording (read as 'import' reads it)")
    export.add_argument("--model", action="append", metavar="PATH",
                        help="model folder whose predictions to add (repeatable)")
    export.add_argument("--out", required=True, help="the NWB file to write")
    export.add_argument("--dt-ms", type=float, default=5.0, help="a recording's bin width (ms)")
    export.add_argument("--table", help="an NWB recording's presentations table")
    export.add_argument("--column", help="an NWB recording's column that names each presentation's sound")
    export.add_argument("--sounds", help="a table's or text files' sound folder")

    fit = sub.add_parser("fit", help="fit an encoding model to a response set and write a model folder")
    fit.add_argument("responses", help="response-set folder (see docs/formats.md)")
    fit.add_argument("--out", help="new or empty model folder to write (default: a new folder <dataset>-<model>-"
                     "<frontend>-<time> in strfviewer's models folder of the user data directory, never in the "
                     "response set)")
    fit.add_argument("--model", default="linear", choices=list(MODEL_KINDS),
                     help="linear, ln (linear-nonlinear), nrf (network receptive field), dnet, convnet2d, statenet "
                          "(a recurrent network), transformer or icnet")
    fit.add_argument("--frontend", default="mel", help="front-end kind (mel, gammatone, sincnet, leaf)")
    fit.add_argument("--frontend-arg", action="append", default=[], metavar="NAME=VALUE",
                     help="front-end argument, e.g. compression=pcen (repeatable; values parsed as JSON)")
    fit.add_argument("--model-arg", action="append", default=[], metavar="NAME=VALUE",
                     help="model constructor argument for icnet (e.g. encoder_channels=32), "
                          f"{described_arguments()}; repeatable; values parsed as JSON")
    fit.add_argument("--spectrogram-input", action="store_true",
                     help="fit a spectrogram-input model on the front-end's fixed output")
    fit.add_argument("--audio-fs", type=int, default=48000, help="resample the stimuli to this rate (Hz)")
    fit.add_argument("--window", type=int, default=9, help="STRF length in bins (linear, ln, nrf, dnet)")
    fit.add_argument("--neurons", default="all", help="'all', 'valid' or indices such as 0-9,12")
    fit.add_argument("--train", help="training stimulus indices (default: the response set's split)")
    fit.add_argument("--val", help="validation stimulus indices")
    fit.add_argument("--test", help="test stimulus indices")
    fit.add_argument("--bins", type=int, help="use only the first N bins of each stimulus")
    fit.add_argument("--no-smooth", action="store_true", help="do not Hann-smooth the targets")
    fit.add_argument("--loss", default="mse", choices=["mse", "poisson"])
    fit.add_argument("--lr", type=float, default=1e-3)
    fit.add_argument("--weight-decay", type=float, default=0.0)
    fit.add_argument("--max-epochs", type=int, default=100)
    fit.add_argument("--patience", type=int, default=30)
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    fit.add_argument("--method", default="gradient", choices=["gradient", "ridge"],
                     help="gradient descent with early stopping, or (linear only) closed-form ridge with "
                     "cross-validation over the training and validation stimuli")
    fit.add_argument("--shifts", type=int, default=1000,
                     help="circular shifts for each neuron's test p-value (0: no significance test)")
    fit.add_argument("--folds", type=int, default=5, help="ridge: cross-validation folds of whole stimuli")
    fit.add_argument("--lambdas", help="ridge: comma-separated lambdas, relative to the mean eigenvalue of X'X "
                     "(default: 15 from 1e-4 to 1e3)")
    fit.add_argument("--shared-lambda", action="store_true", help="ridge: one lambda for all neurons")
    fit.add_argument("--pooled-means", action="store_true",
                     help="ridge: centre features and responses over all stimuli together (default: each stimulus "
                          "on its own means, so the STRF fits the response within each stimulus)")
    fit.add_argument("--smoothness", type=float, default=0.0,
                     help="ridge: weight of the first-difference penalty along lag and frequency (0: plain ridge)")
    fit.add_argument("--quiet", action="store_true", help="no progress bar")
    grid = sub.add_parser("fit-grid", help="fit every cell of a grid (data sets x front-ends x models x methods x "
                                           "recipes x seeds) on Dask, one model folder each")
    grid.add_argument("grid", help="the grid file (TOML; see docs/formats.md, 'Fit grids')")
    grid.add_argument("--out", required=True, help="the grid folder: model folders, completion marks, results; "
                      "rerunning into it fits only the cells not finished yet")
    grid.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler, e.g. tcp://host:8786 "
                      "(default: a local cluster of one worker process per core)")
    grid.add_argument("--workers", type=int, help="local cluster: worker processes (default: one per core, no more "
                      "than there are cells; torch threads per worker share out the cores)")
    grid.add_argument("--retries", type=int, default=2, help="attempts after a worker dies mid-fit (local "
                      "cluster; an existing scheduler uses its own distributed.scheduler.allowed-failures)")
    grid.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_render_parser(sub)
    return parser


# The names of strfviewer.gui.render.VIEWS (not imported here: that would load Qt for every subcommand).
_RENDER_VIEWS = ("window", "spectrograms", "filters", "causality", "strf", "psth", "compare")


def add_recording_options(parser: argparse.ArgumentParser) -> None:
    """How a recording given as --dataset is read, as 'strfviewer import' takes it."""
    parser.add_argument("--dt-ms", type=float, metavar="MS", help="recording given as --dataset: bin width (ms; "
                        "default: the last one chosen in the window, else 5)")
    parser.add_argument("--table", help="NWB --dataset: the presentations' table (default: the best guess)")
    parser.add_argument("--column", help="NWB --dataset: the column that names each presentation's sound")
    parser.add_argument("--sounds", metavar="FOLDER", help="CSV --dataset: the folder of its sound files "
                        "(default: beside the table)")


def _add_render_parser(sub: Any) -> None:
    render = sub.add_parser(
        "render", help="write PNG or SVG images of the app's views without showing a window",
        description="Open sounds, a session, models or a response set as the window would, wait until every "
        "view has finished computing, and write images of the chosen views. No window appears (the offscreen "
        "platform is used unless QT_QPA_PLATFORM says otherwise) and no dialog can block: any error ends the "
        "run with exit code 2. Each written path is printed on stdout.",
    )
    render.add_argument("audio", nargs="*", metavar="AUDIO", help="sound files to open (the first is shown)")
    render.add_argument("--session", metavar="FILE",
                        help="session file (*.strfsession.json) to open first; the other options add to it")
    render.add_argument("--model", action="append", metavar="PATH",
                        help="trained model folder or weights file to load (repeatable)")
    render.add_argument("--dataset", metavar="PATH", help="response-set folder or recording (.nwb, .csv) to load")
    add_recording_options(render)
    render.add_argument("--grid", metavar="FOLDER", help="a fit grid's folder (strfviewer fit-grid): the compare "
                        "view shows its front-end x data-set matrices")
    render.add_argument("--frontend", action="append", choices=list(KINDS), metavar="KIND",
                        help=f"front-end to show ({', '.join(KINDS)}; repeatable; default: mel unless "
                        "the session has front-ends)")
    render.add_argument("--view", action="append", choices=["all", *_RENDER_VIEWS], metavar="NAME",
                        help=f"view to render: {', '.join(_RENDER_VIEWS)}, or all (repeatable; default: all). "
                        "'window' is the whole window, 'spectrograms' the waveform and spectrogram panes")
    render.add_argument("--neuron", type=int, metavar="INDEX", help="neuron to select (STRF, PSTH, causality)")
    render.add_argument("--stimulus", type=int, metavar="INDEX", help="stimulus the PSTH view shows")
    render.add_argument("--range", type=float, nargs=2, metavar=("START", "END"),
                        help="time range to show, in seconds (default: the session's, else the whole sound)")
    render.add_argument("--out", required=True, metavar="PATH",
                        help="image file for one view; for several views a folder (created) that receives "
                        "<view>.<format> files")
    render.add_argument("--format", choices=["png", "svg"],
                        help="image format (default: from the --out suffix for one view, else png)")
    render.add_argument("--size", default="1600x1000", metavar="WIDTHxHEIGHT",
                        help="size of each image in logical pixels: the rendered view itself gets exactly this "
                        "size (default: 1600x1000)")
    render.add_argument("--scale", type=float, default=2.0, metavar="FACTOR",
                        help="PNG pixels per logical pixel: a PNG is size x scale pixels (default: 2, sharp on "
                        "slides; ignored for SVG)")
    render.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS",
                        help="give up (exit code 2) if the whole run, all views included, takes longer "
                        "(default: 300)")


def build_gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="strfviewer",
        description="See what an auditory front-end and an encoding model hear. Without a subcommand, opens "
        "the window; subcommands: info, import, export, fit, fit-grid, render (see 'strfviewer render --help' and "
        "the others).",
    )
    parser.add_argument("audio", nargs="*", metavar="AUDIO", help="sound files to open (the first is shown)")
    parser.add_argument("--model", metavar="PATH", help="trained model folder or weights file to load")
    parser.add_argument("--dataset", metavar="PATH", help="response-set folder or recording (.nwb, .csv) to load; "
                        "an NWB file opens a dialog that asks how to read it unless --dt-ms, --table or --column "
                        "say")
    add_recording_options(parser)
    parser.add_argument("--grid", metavar="FOLDER", help="a fit grid's folder (strfviewer fit-grid) to show in "
                        "the Compare tab")
    parser.add_argument("--frontend", action="append", choices=list(KINDS), metavar="KIND",
                        help=f"front-end to show ({', '.join(KINDS)}; repeatable)")
    parser.add_argument("--session", metavar="FILE", help="session file (*.strfsession.json) to open")
    parser.add_argument("--demo", action="store_true",
                        help="open the bundled demo session: simulated recordings of auditory-nerve fibres and "
                        "cortex-like units, their sounds and five fitted models (ignored when a session or sounds "
                        "are given)")
    parser.add_argument("--reset-settings", action="store_true", help="forget saved preferences and layout")
    parser.add_argument("--version", action="version", version=f"strfviewer {__version__}")
    return parser


_SUBCOMMANDS = ("info", "fit", "fit-grid", "render", "import", "export")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``strfviewer`` command; returns the process exit code."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in (*_SUBCOMMANDS, "-h", "--help"):
        options = build_gui_parser().parse_args(argv)
        from .gui.app import run

        return run(options)
    args = build_parser().parse_args(argv)
    try:
        if args.command == "fit":
            return _run_fit(args)
        if args.command == "fit-grid":
            return _run_fit_grid(args)
        if args.command == "render":
            from .gui import render

            return render.run(args)
        if args.command == "import":
            return _run_import(args)
        if args.command == "export":
            return _run_export(args)
        if args.command == "info" and args.path:
            from .backend.describe import describe_path

            sys.stdout.write(describe_path(Path(args.path)) + "\n")
            return 0
        audio_fs = getattr(args, "audio_fs", 48000)
        dt_ms = getattr(args, "dt_ms", 5.0)
        sys.stdout.write(_environment_text(audio_fs, dt_ms) + "\n")
        return 0
    except StrfviewerError as exc:
        log.error("%s", " ".join(str(exc).split()))
        return 2
