"""The one observable session state: views read it and write it, and never call each other.

Everything a user does that other views must reflect goes through here: which sound is open, which
front-ends are active and with which arguments, the visible time range, the playback cursor, live mode and
the display settings. Each change emits one signal; views redraw from the state, not from the sender.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from ..backend.analysis.frame_cache import FrameCache
from . import windowing

MODEL_STREAM = -1  # the live stream of the model's rates (front-end slots, streamed too, have positive ids)
DEFAULT_LIVE_WINDOW_S = 10.0
DEFAULT_DISPLAY: dict[str, Any] = {"colormap": "viridis", "auto_levels": True, "levels": None}
_slot_ids = itertools.count(1)
RANGE_ARGUMENTS = ("f_min", "f_max", "kernel_ms")  # the arguments a front-end's frequency-range note is about


@dataclass
class FrontendSlot:
    """One active front-end: its kind, its constructor arguments (besides audio_fs and dt_ms), its id, and
    ``note``: why its arguments differ from the kind's defaults when strfviewer chose them (shown with the pane;
    not saved in sessions, which store the arguments themselves)."""

    kind: str
    args: dict[str, Any] = field(default_factory=dict)
    dt_ms: float = 5.0
    id: int = field(default_factory=lambda: next(_slot_ids))
    note: str = ""


@dataclass(frozen=True)
class LiveStream:
    """A live stream just opened: frames of ``channels`` each will arrive, ``hop`` samples apart, from frame
    ``first`` on, up to ``n_frames`` (None: endless, a live input); ``centres`` (Hz) label a front-end's
    channels (None for latent channels and for a model's neurons). ``scrolling``: panes keep only the last
    :attr:`SessionState.live_window_s` of it (a live input, a long sound streamed from the cursor)."""

    n_frames: int | None
    hop: int
    audio_fs: int
    channels: int
    centres: np.ndarray | None = None
    first: int = 0
    scrolling: bool = False


@dataclass(frozen=True, eq=False)
class AudioDocument:
    """The open sound, as the views need it: mono float32 samples at ``audio_fs`` and where it came from.

    Nothing writes into ``samples``: frames computed from them are cached by the array's identity."""

    path: Path | None
    samples: np.ndarray
    audio_fs: int
    notes: tuple[str, ...] = ()
    overview: tuple[np.ndarray, np.ndarray] | None = None  # (times, values) drawn by the overview, if precomputed

    @property
    def duration_s(self) -> float:
        return self.samples.shape[0] / self.audio_fs

    @property
    def title(self) -> str:
        return self.path.name if self.path is not None else "generated sound"


class SessionState(QObject):
    """The session a window shows. Setters emit a signal only when something changed."""

    audioChanged = Signal()
    frontendsChanged = Signal()  # a slot was added or removed
    frontendChanged = Signal(int)  # a slot's arguments changed (slot id)
    viewRangeChanged = Signal(float, float)
    cursorChanged = Signal(float)
    liveChanged = Signal(bool)
    liveStreamStarted = Signal(int, object)  # stream id (a slot id, or MODEL_STREAM), LiveStream
    liveFramesArrived = Signal(int, int, object)  # stream id, first frame, (channels or neurons, n) array
    liveInputChanged = Signal(bool)  # a live input (the microphone) started or stopped feeding the panes
    liveInputAdvanced = Signal(float, object)  # seconds captured so far, the samples just captured
    liveLatencyMeasured = Signal(float)  # seconds from a sample's capture to the paint of its frame
    displayChanged = Signal()
    frontViewChanged = Signal(str)  # the tab in front, by name (sessions remember it; views do not redraw)
    modelChanged = Signal()  # a model was added or removed (``models``)
    responsesChanged = Signal()  # a response set was opened (``responses``)
    gridChanged = Signal()  # a fit grid's results were opened (``grid``)
    neuronChanged = Signal(int)  # the selected neuron index
    stimulusChanged = Signal(int)  # the response set's stimulus the PSTH view shows (-1: not chosen yet)
    channelChanged = Signal(int)  # the selected front-end channel (-1: none), highlighted everywhere
    targetChanged = Signal()  # the front-end slot the analysis views study (``target_slot``)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.audio: AudioDocument | None = None
        self.audio_files: list[Path] = []
        self.frontends: list[FrontendSlot] = []
        self.view_range: tuple[float, float] = (0.0, 1.0)
        self.cursor_s = 0.0
        self.live = False
        self.live_window_s = DEFAULT_LIVE_WINDOW_S  # what scrolling live panes keep and show
        self.live_input_s: float | None = None  # seconds captured, while a live input feeds the panes
        self.live_timeline: Any = None  # the live input's backend timeline: when each sample was captured
        self.live_input_rate = 0  # the live input's rate (Hz), while there is one
        self.display: dict[str, Any] = dict(DEFAULT_DISPLAY)
        self.front_view = "spectrograms"
        self.models: list[Any] = []  # backend LoadedModel objects, in the order they were opened
        self.responses: Any = None  # a backend ResponseSet, when one is open
        self.grid: Any = None  # a backend GridResults (a fit grid's folder), when one is open
        self.selected_neuron = 0
        self.selected_stimulus = -1
        self.selected_channel = -1
        self.target_slot: int | None = None  # None: the first active front-end
        self.frame_cache = FrameCache()  # front-end frames of this session's sounds, shared by every view

    # Audio
    def set_audio(self, audio: AudioDocument) -> None:
        self.audio = audio
        if audio.path is not None and audio.path not in self.audio_files:
            self.audio_files.append(audio.path)
        self.view_range = windowing.initial_view(audio.duration_s)  # long sounds open on their first seconds
        self.cursor_s = 0.0
        self.audioChanged.emit()
        self.viewRangeChanged.emit(*self.view_range)
        self.cursorChanged.emit(0.0)

    # Front-ends
    def add_frontend(self, kind: str, args: dict[str, Any] | None = None, dt_ms: float = 5.0) -> FrontendSlot:
        """Add a front-end pane. Without ``args`` (the Add button, the command line) its frequency range follows
        the open response set, else the sound's band, and ``note`` says so; given ``args`` (a session) are kept."""
        note = ""
        if args is None:
            from ..backend.frontends.band import suggest_frequency_range

            audio_fs = self.audio.audio_fs if self.audio is not None else None
            suggestion = suggest_frequency_range(kind, responses=self.responses, audio_fs=audio_fs)
            args, note = suggestion.args, suggestion.reason
        slot = FrontendSlot(kind, dict(args), dt_ms, note=note)
        self.frontends.append(slot)
        self.frontendsChanged.emit()
        return slot

    def remove_frontend(self, slot_id: int) -> None:
        self.frontends = [s for s in self.frontends if s.id != slot_id]
        self.frontendsChanged.emit()

    def clear_frontends(self) -> None:
        if self.frontends:
            self.frontends = []
            self.frontendsChanged.emit()

    def set_frontend_args(self, slot_id: int, args: dict[str, Any], note: str | None = None) -> None:
        """New arguments for a pane; ``note`` says why when strfviewer chose them. Without one, a note about the
        frequency range is dropped once the range is edited (it would no longer be true)."""
        slot = self.slot(slot_id)
        if slot is None or (slot.args == args and (note is None or note == slot.note)):
            return
        if note is not None:
            slot.note = note
        elif any(slot.args.get(key) != args.get(key) for key in RANGE_ARGUMENTS):
            slot.note = ""
        slot.args = dict(args)
        self.frontendChanged.emit(slot_id)

    def slot(self, slot_id: int) -> FrontendSlot | None:
        return next((s for s in self.frontends if s.id == slot_id), None)

    # Time
    def set_view_range(self, start: float, stop: float) -> None:
        if self.live_input_s is not None:
            limit = max(self.live_input_s, self.live_window_s)
        else:
            limit = self.audio.duration_s if self.audio is not None else max(stop, 1.0)
        start, stop = max(0.0, min(start, stop)), min(limit, max(start, stop))
        if stop - start <= 0:
            return
        if (start, stop) != self.view_range:
            self.view_range = (start, stop)
            self.viewRangeChanged.emit(start, stop)

    def set_cursor(self, seconds: float) -> None:
        if seconds != self.cursor_s:
            self.cursor_s = seconds
            self.cursorChanged.emit(seconds)

    def set_live(self, live: bool) -> None:
        if live != self.live:
            self.live = live
            self.liveChanged.emit(live)

    def start_live_stream(self, stream_id: int, stream: LiveStream) -> None:
        """A stream of live mode opened: the pane it belongs to blanks, then follows :meth:`add_live_frames`."""
        self.liveStreamStarted.emit(stream_id, stream)

    def add_live_frames(self, stream_id: int, first: int, frames: np.ndarray) -> None:
        self.liveFramesArrived.emit(stream_id, first, frames)

    def follow_live(self, seconds: float) -> None:
        """Scroll the view to the last :attr:`live_window_s` up to ``seconds`` (the newest sample)."""
        width = self.live_window_s
        self.set_view_range(max(0.0, seconds - width), max(width, seconds))

    def start_live_input(self, timeline: Any, rate: int) -> None:
        """A live input at ``rate`` Hz starts feeding the panes: the time axis becomes its seconds, from 0."""
        self.live_input_s, self.live_timeline, self.live_input_rate = 0.0, timeline, rate
        self.liveInputChanged.emit(True)
        self.follow_live(0.0)

    def advance_live_input(self, seconds: float, samples: np.ndarray | None = None) -> None:
        """The live input has ``seconds`` captured, ending with ``samples`` (at the live panes' rate)."""
        if self.live_input_s is not None:
            self.live_input_s = seconds
            self.follow_live(seconds)
            if samples is not None:
                self.liveInputAdvanced.emit(seconds, samples)

    def stop_live_input(self) -> None:
        """The live input stopped: the time axis is the open sound's again (the recording, once it opens,
        replaces it)."""
        if self.live_input_s is not None:
            self.live_input_s = self.live_timeline = None
            if self.audio is not None:
                self.set_view_range(*windowing.initial_view(self.audio.duration_s))
            self.liveInputChanged.emit(False)

    def set_live_window(self, seconds: float) -> None:
        """How many seconds scrolling live panes show (at least one)."""
        self.live_window_s = max(1.0, float(seconds))

    def report_live_latency(self, seconds: float) -> None:
        self.liveLatencyMeasured.emit(seconds)

    # Display
    def set_front_view(self, name: str) -> None:
        if name != self.front_view:
            self.front_view = name
            self.frontViewChanged.emit(name)

    def update_display(self, **changes: Any) -> None:
        new = {**self.display, **changes}
        if new != self.display:
            self.display = new
            self.displayChanged.emit()

    # Models and responses
    @property
    def model(self) -> Any:
        """The most recently opened model (what live mode and the STRF view use by default)."""
        return self.models[-1] if self.models else None

    @property
    def model_path(self) -> Path | None:
        return self.model.path if self.model is not None else None

    def add_model(self, model: Any) -> None:
        self.models = [m for m in self.models if m.path != model.path] + [model]
        self.modelChanged.emit()

    def remove_model(self, path: Path) -> None:
        self.models = [m for m in self.models if m.path != path]
        self.modelChanged.emit()

    def set_responses(self, responses: Any, neuron: int = 0) -> None:
        """Open a response set with ``neuron`` selected (0 when it is out of the set's range)."""
        self.responses = responses
        self.selected_neuron = neuron if 0 <= neuron < len(responses.neurons) else 0
        self.selected_stimulus = -1  # the PSTH view chooses one (the remembered or first test stimulus)
        self.responsesChanged.emit()
        self.neuronChanged.emit(self.selected_neuron)

    def set_grid(self, grid: Any) -> None:
        """Show a fit grid's results (the Compare tab's matrices)."""
        self.grid = grid
        self.gridChanged.emit()

    def set_neuron(self, index: int) -> None:
        if index != self.selected_neuron and index >= 0:
            self.selected_neuron = index
            self.neuronChanged.emit(index)

    def set_stimulus(self, index: int) -> None:
        """Show stimulus ``index`` of the open response set in the PSTH view (an index outside it is refused)."""
        count = 0 if self.responses is None else len(self.responses.stimuli)
        if not 0 <= index < count:
            raise IndexError(f"stimulus {index} is out of range: the open response set has {count} stimuli")
        if index != self.selected_stimulus:
            self.selected_stimulus = index
            self.stimulusChanged.emit(index)

    def set_channel(self, channel: int) -> None:
        if channel != self.selected_channel:
            self.selected_channel = channel
            self.channelChanged.emit(channel)

    # Analysis target
    def target(self) -> FrontendSlot | None:
        """The front-end slot the analysis views study: the chosen one, else the first active one."""
        chosen = self.slot(self.target_slot) if self.target_slot is not None else None
        return chosen or (self.frontends[0] if self.frontends else None)

    def set_target(self, slot_id: int | None) -> None:
        if slot_id != self.target_slot:
            self.target_slot = slot_id
            self.targetChanged.emit()
