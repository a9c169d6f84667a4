"""Analyses behind the app's views: STRFs (more to come: causality, filter responses)."""
