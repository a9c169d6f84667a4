"""Colour bars for every heatmap, and the fixed axis widths that keep time-aligned panes aligned to the pixel.

A heatmap without a colour bar hides the sign and size of what it shows, so every image of the app gets one
(:func:`attach_colorbar`), with the unit of its values in its label (:func:`set_colorbar_label`). Set levels
and colour map on the bar (``bar.setLevels``, ``bar.setColorMap``): it passes them on to its images, whereas an
image's own ``setLevels`` does not reach the bar; :func:`resolve_colormap` turns the display's colour-map name
into a map. Panes that share the time axis must also share the plot area's left edge and width: each fixes its
left axis to :data:`LEFT_AXIS_WIDTH` and holds either a colour bar or a blank of the same width
(:func:`reserve_colorbar_space`) on its right.
"""

from __future__ import annotations

import pyqtgraph as pg

DEFAULT_COLORMAP = "viridis"  # what a heatmap uses when the display names no colour map, or one pyqtgraph lacks
LEFT_AXIS_WIDTH = 72  # px: the left axis of every pane on the shared time axis
COLORBAR_WIDTH = 14  # px: the colour strip itself
COLORBAR_AXIS_WIDTH = 62  # px: the bar's value axis, tick labels and unit label
_GAP = 6  # px between the plot's right edge and the bar
COLORBAR_TOTAL_WIDTH = COLORBAR_WIDTH + COLORBAR_AXIS_WIDTH  # what a pane without a bar reserves instead


def _plot_item(plot: pg.PlotWidget | pg.PlotItem) -> pg.PlotItem:
    return plot.getPlotItem() if isinstance(plot, pg.PlotWidget) else plot


def attach_colorbar(plot: pg.PlotWidget | pg.PlotItem, image: pg.ImageItem | list[pg.ImageItem], label: str,
                    colormap: pg.ColorMap | None = None, levels: tuple[float, float] = (0.0, 1.0)) -> pg.ColorBarItem:
    """A read-only colour bar right of ``plot`` showing ``image``'s levels and colour map; ``label`` names the
    values and their unit (e.g. ``"level (dB)"``). Several images (a list) may share one bar."""
    bar = pg.ColorBarItem(values=levels, width=COLORBAR_WIDTH, colorMap=colormap, label=label, interactive=False,
                          colorMapMenu=False)
    item = _plot_item(plot)
    bar.setImageItem(image, insert_in=item)
    item.layout.setColumnFixedWidth(4, _GAP)
    axis = bar.getAxis("right")
    axis.setWidth(COLORBAR_AXIS_WIDTH)
    axis.enableAutoSIPrefix(False)
    bar.setFixedWidth(COLORBAR_TOTAL_WIDTH)
    return bar


def reserve_colorbar_space(plot: pg.PlotWidget | pg.PlotItem) -> pg.GraphicsWidget:
    """A blank as wide as a colour bar where a time-aligned pane without an image would have one."""
    item = _plot_item(plot)
    blank = pg.GraphicsWidget()
    blank.setFixedWidth(COLORBAR_TOTAL_WIDTH)
    item.layout.addItem(blank, 2, 5)
    item.layout.setColumnFixedWidth(4, _GAP)
    return blank


def fix_left_axis(plot: pg.PlotWidget | pg.PlotItem, width: int = LEFT_AXIS_WIDTH) -> None:
    """Give ``plot`` the shared left-axis width, so x positions of panes stacked above each other agree."""
    _plot_item(plot).getAxis("left").setWidth(width)


def set_colorbar_label(bar: pg.ColorBarItem, text: str) -> None:
    """Name the bar's values and unit; a vertical bar draws its label on its left axis, beside the strip."""
    bar.getAxis("left").setLabel(text)


def resolve_colormap(name: str | None) -> pg.ColorMap:
    """The colour map called ``name``, or :data:`DEFAULT_COLORMAP` when there is none of that name."""
    return pg.colormap.get(name if name in pg.colormap.listMaps() else DEFAULT_COLORMAP)
