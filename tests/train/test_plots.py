"""train/plots.py: the loss curve as a real PNG (train line, validation points, or a 'no reports' note)."""

from __future__ import annotations

import io

import matplotlib.image
import matplotlib.pyplot as plt

from forge_mcp.train.plots import loss_png, png_of


def _image(data: bytes):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return matplotlib.image.imread(io.BytesIO(data), format="png")


def test_a_loss_curve_is_a_700_by_400_png() -> None:
    series = {
        "run_id": "run-1",
        "train": [{"step": s, "loss": 3.0 / s} for s in (1, 2, 3, 4)],
        "val": [{"step": 0, "loss": 3.5}, {"step": 4, "loss": 1.0}],
    }
    image = _image(loss_png(series))
    assert image.shape[:2] == (400, 700)
    empty = _image(loss_png({"run_id": "run-2", "train": [], "val": []}))
    assert empty.shape == image.shape and (empty != image).any()  # the note instead of lines


def test_png_of_returns_the_figure_as_png() -> None:
    fig, ax = plt.subplots(figsize=(2, 1), dpi=50)
    try:
        ax.plot([0, 1], [1, 0])
        assert _image(png_of(fig)).shape[:2] == (50, 100)
    finally:
        plt.close(fig)
