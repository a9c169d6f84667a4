"""The PySide6 desktop interface of strfviewer."""
