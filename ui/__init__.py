"""Shared UI for every page: URL state, cached engine calls, widgets and charts.

Pages stay thin scripts; anything two pages use lives here, once.
"""
