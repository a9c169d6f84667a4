"""strfviewer: see what an auditory front-end and an encoding model hear."""

__version__ = "0.1.0"
