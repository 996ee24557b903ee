"""The loss curve as a PNG (matplotlib, Agg backend, imported only when a plot is asked for)."""

from __future__ import annotations

import io
from typing import Any


def loss_png(series: dict[str, Any]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    try:
        for kind, style in (("train", "-"), ("val", "o--")):
            points = series.get(kind) or []
            if points:
                ax.plot([p["step"] for p in points], [p["loss"] for p in points], style, label=f"{kind} loss")
        if not series.get("train") and not series.get("val"):
            ax.text(0.5, 0.5, "no reports yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_title(f"run {series.get('run_id', '')}")
        ax.grid(alpha=0.3)
        if series.get("train") or series.get("val"):
            ax.legend()
        return png_of(fig)
    finally:
        plt.close(fig)


def png_of(fig: Any) -> bytes:
    """A matplotlib figure as PNG bytes (laid out tight)."""
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
