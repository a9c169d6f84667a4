"""Thin views over the session state: waveform overview, spectrogram panes and their forms."""
