"""The model-level causality bank: every model kind strfviewer loads, small, on audio, with random weights.

A new kind joins the bank by adding a case here; test_model_causality then checks that it never looks into
the future (bitwise), that the causality view's Jacobian of it is the exact one, and that it streams.
Two deliberately broken models (a centred STRF, below, and a Transformer built with ``mask_future=False``)
show that the checks see a leak, and where.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from strfviewer.backend.frontends import make_wav2spec
from strfviewer.backend.models import (
    ConvNet2D,
    DNet,
    Linear,
    LinearNonlinear,
    NetworkReceptiveField,
    StateNet,
    Transformer,
)
from strfviewer.backend.models.prefilters import make_prefiltering
from strfviewer.backend.models.readouts import ParametricSTRF

AUDIO_FS, DT_MS, BANDS, NEURONS = 16000, 5.0, 12, 3
HOP = AUDIO_FS * int(DT_MS) // 1000


def mel() -> nn.Module:
    return make_wav2spec("mel", audio_fs=AUDIO_FS, dt_ms=DT_MS, n_mels=BANDS, f_min=200.0, f_max=7000.0)


def pcen() -> nn.Module:
    return make_wav2spec("gammatone", audio_fs=AUDIO_FS, dt_ms=DT_MS, n_filters=BANDS, f_max=7000.0,
                         compression="pcen")


def prefilter(kind: str, kernel_size: int = 6) -> nn.Module:
    module = make_prefiltering(kind, BANDS, DT_MS)
    module.kernel_size = kernel_size  # deepSTRF's 651 frames would make every check slow, not different
    return module


def randomised(model: nn.Module, seed: int = 0, scale: float = 1.0) -> nn.Module:
    """Every parameter moved off its initial value (by ``scale`` times a unit of noise), so no term hides."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, value in model.named_parameters():
            if name.startswith("wav2spec."):
                continue
            size = 0.3 if name.endswith((".d", "d_on", "d_off", ".p")) else 0.5
            value.add_(torch.randn(value.shape, generator=generator) * size * scale)
    return model.eval()


@dataclass(frozen=True)
class ModelCase:
    name: str
    build: Callable[[], nn.Module]
    streams: bool = True
    # Float32 agreement expected of two exact ways of computing its Jacobian: the LMU's 128-state Legendre
    # memory is ill-conditioned, and both ways sit about 2e-4 from a float64 reference.
    tolerance: float = 1e-5


class CentredLinear(Linear):
    """A deliberately non-causal model: its STRF is centred on the present frame, so it reads ``lookahead``
    future frames (the mistake of a symmetric pad)."""

    def __init__(self, *args, lookahead: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lookahead = lookahead

    def from_spectrogram(self, spec: torch.Tensor) -> torch.Tensor:
        ahead = F.pad(spec, (0, self.lookahead))[..., self.lookahead:]
        return super().from_spectrogram(ahead)


MODEL_CASES = [
    ModelCase("linear", lambda: randomised(Linear(BANDS, 5, NEURONS, wav2spec=mel()))),
    ModelCase("ln-pcen", lambda: randomised(LinearNonlinear(BANDS, 4, NEURONS, wav2spec=pcen()))),
    ModelCase("linear-adaptrans", lambda: randomised(Linear(BANDS, 4, NEURONS, wav2spec=mel(),
                                                            prefiltering=prefilter("adaptrans")))),
    ModelCase("linear-parametric-strf", lambda: randomised(Linear(
        BANDS, 6, NEURONS, wav2spec=mel(), kernel=ParametricSTRF(BANDS, 6, 1, NEURONS, 2)))),
    ModelCase("nrf-icadaptation", lambda: randomised(NetworkReceptiveField(
        BANDS, 4, 5, NEURONS, wav2spec=mel(), prefiltering=prefilter("icadaptation")))),
    ModelCase("dnet", lambda: randomised(DNet(BANDS, 4, 5, 2.5, out_neurons=NEURONS, wav2spec=mel()))),
    ModelCase("convnet2d", lambda: randomised(ConvNet2D(BANDS, (3, 3), 4, 6, NEURONS, wav2spec=mel()))),
    ModelCase("convnet2d-adaptrans", lambda: randomised(ConvNet2D(
        BANDS, (3, 2), 3, 5, NEURONS, wav2spec=mel(), prefiltering=prefilter("adaptrans", 4)))),
    ModelCase("transformer", lambda: randomised(Transformer(BANDS, embedding_dim=8, out_neurons=NEURONS,
                                                            wav2spec=mel()))),
    ModelCase("transformer-window-patches", lambda: randomised(Transformer(
        BANDS, freq_patch_size=4, time_patch_size=3, context_window=5, embedding_dim=4, n_heads=2, n_layers=2,
        out_neurons=NEURONS, wav2spec=mel()))),
    ModelCase("transformer-pcen-icadaptation", lambda: randomised(Transformer(
        BANDS, freq_patch_size=6, context_window=3, embedding_dim=4, out_neurons=NEURONS, wav2spec=pcen(),
        prefiltering=prefilter("icadaptation", 3)))),
    ModelCase("statenet-lc-gru", lambda: randomised(StateNet(BANDS, kernel_size=4, stride=2, hidden_channels=3,
                                                             out_neurons=NEURONS, wav2spec=mel()))),
    ModelCase("statenet-fc-lstm-adaptrans", lambda: randomised(StateNet(
        BANDS, kernel_size=5, stride=3, hidden_channels=2, connectivity="FC", rnn_type="LSTM", out_neurons=NEURONS,
        wav2spec=mel(), prefiltering=prefilter("adaptrans", 4)))),
    ModelCase("statenet-conv-rnn-pcen", lambda: randomised(StateNet(
        BANDS, kernel_size=3, stride=3, hidden_channels=2, connectivity="CONV", rnn_type="RNN", out_neurons=NEURONS,
        wav2spec=pcen()))),
    ModelCase("statenet-lc-lmu", lambda: randomised(StateNet(BANDS, kernel_size=6, stride=3, hidden_channels=2,
                                                             rnn_type="LMU", out_neurons=NEURONS, wav2spec=mel()),
                                                    scale=0.2), tolerance=1e-3),
]
CASE_IDS = [case.name for case in MODEL_CASES]
