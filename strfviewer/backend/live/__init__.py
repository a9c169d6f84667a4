"""Live input: what the microphone path needs apart from the device itself (rate conversion, buffering)."""
