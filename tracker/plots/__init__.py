"""Plots of one patient's surveillance and of the cohort, drawn from domain data.

Each `plot_*(ax, ..., *, as_of)` draws on the Axes it is given and returns it; each
`*_figure(...)` builds a `matplotlib.figure.Figure` (never pyplot, no global figure state).
Nothing here opens the database: the services load the data and save the figures.
Importing this package imports matplotlib, so commands that do not plot must not import it.
"""

from __future__ import annotations

from tracker.plots.size import plot_size, size_figure

__all__ = ["plot_size", "size_figure"]
