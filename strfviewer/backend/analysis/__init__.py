"""Analyses behind the app's views: STRFs and filter responses (causality Jacobians come next)."""
