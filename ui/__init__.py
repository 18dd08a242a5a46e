"""Shared UI for every page: URL state, cached engine calls, widgets and charts,
one module per concern (sidebar, cards, pins, latency panel, ...).

Pages stay thin scripts; anything two pages use lives here, once.
"""
