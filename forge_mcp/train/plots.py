"""The loss curve as a PNG (matplotlib, Agg backend, imported only when a plot is asked for)."""

from __future__ import annotations

import io
from typing import Any

from forge_mcp.train.layers import module_rank


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


def layers_png(report: Any) -> bytes:
    """Two heatmaps, layers × modules, of a LayersReport: how much each weight changed (||ΔW||/||W|| when
    the base weights were read, else ||ΔW||) and the update's effective rank out of the adapter's rank."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = sorted({u.layer for u in report.modules}, key=lambda n: (n is None, n or 0))
    modules = sorted({u.module for u in report.modules}, key=lambda m: (module_rank(m), m))
    size = _grid(
        report, layers, modules, lambda u: (u.relative_update or 0.0) * 100 if report.relative else u.update_norm
    )
    ranks = _grid(report, layers, modules, lambda u: u.effective_rank)
    height = min(14.0, 1.8 + 0.32 * len(layers))
    fig, (left, right) = plt.subplots(1, 2, figsize=(max(9.0, 1.6 * len(modules) + 3), height), dpi=100)
    try:
        _heatmap(
            fig,
            left,
            size,
            layers,
            modules,
            "viridis",
            None,
            "%.2f%%" if report.relative else "%.3g",
            "||ΔW|| / ||W||  (%)" if report.relative else "||ΔW||  (Frobenius)",
        )
        _heatmap(
            fig,
            right,
            ranks,
            layers,
            modules,
            "magma",
            (0.0, float(report.rank)),
            "%.1f",
            f"effective rank of ΔW (of {report.rank})",
        )
        where = f"{report.source}" + (f", step {report.step}" if report.step is not None else "")
        fig.suptitle(f"{report.run_id or report.adapter_path}: {report.method} ({where})", fontsize=11)
        return png_of(fig)
    finally:
        plt.close(fig)


def _grid(report: Any, layers: list[Any], modules: list[str], value: Any) -> Any:
    """A layers × modules array of `value(update)`, NaN where a module is not adapted in a layer."""
    import numpy as np

    grid = np.full((len(layers), len(modules)), np.nan)
    for u in report.modules:
        grid[layers.index(u.layer), modules.index(u.module)] = value(u)
    return grid


def _heatmap(
    fig: Any,
    ax: Any,
    grid: Any,
    layers: list[Any],
    modules: list[str],
    cmap: str,
    limits: tuple[float, float] | None,
    fmt: str,
    title: str,
) -> None:
    import numpy as np

    vmin, vmax = limits or (0.0, float(np.nanmax(grid)) if np.isfinite(grid).any() else 1.0)
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, aspect="auto", vmin=vmin, vmax=vmax or 1.0)
    ax.set_xticks(range(len(modules)), modules, rotation=30, ha="right")
    ax.set_yticks(range(len(layers)), ["-" if n is None else str(n) for n in layers])
    ax.set_ylabel("layer")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if grid.size <= 400:  # values in the cells while they stay legible
        bright = vmin + 0.6 * ((vmax or 1.0) - vmin)
        for (row, col), v in np.ndenumerate(grid):
            if np.isfinite(v):
                ax.text(
                    col, row, fmt % v, ha="center", va="center", fontsize=7, color="black" if v > bright else "white"
                )
