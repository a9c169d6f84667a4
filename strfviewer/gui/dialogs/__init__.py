"""Dialogs that drive longer tasks from the window: fitting models, supplying what a model file leaves out."""
