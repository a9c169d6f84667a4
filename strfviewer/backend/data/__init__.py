"""Data: audio, recorded responses, and how they line up."""

from .audio import LoadedAudio, audio_info, load_audio
from .responses import NeuronInfo, ResponseSet, StimulusInfo, hop_for, load_response_set, save_response_set

__all__ = [
    "LoadedAudio",
    "NeuronInfo",
    "ResponseSet",
    "StimulusInfo",
    "audio_info",
    "hop_for",
    "load_audio",
    "load_response_set",
    "save_response_set",
]
