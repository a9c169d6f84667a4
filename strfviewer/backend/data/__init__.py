"""Data: audio, recorded responses, and how they line up."""
