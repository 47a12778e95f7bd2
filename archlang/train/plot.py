"""curves.png: loss and accuracy per epoch.

Uses matplotlib's Figure and Agg canvas directly rather than pyplot, so
drawing never switches the backend of a user's interactive session and
needs no display.
"""
from __future__ import annotations

import io
from pathlib import Path

from .checkpoint import write_atomic


def draw_curves(history: list[dict], path: Path, title: str) -> bool:
    """Draw the curves atomically; False when matplotlib is not installed."""
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return False
    # No TeX, whatever the user's rcParams say: the text is plain, and TeX may not be installed.
    with matplotlib.rc_context({"text.usetex": False}):
        _draw(history, path, title, Figure, FigureCanvasAgg)
    return True


def _draw(history: list[dict], path: Path, title: str, Figure, FigureCanvasAgg) -> None:
    epochs = [r["epoch"] for r in history]
    figure = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(figure)
    loss_ax, acc_ax = figure.subplots(1, 2)
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        loss_ax.plot(epochs, [r[key] for r in history], marker="o", label=label)
    for key, label in (("train_acc", "train"), ("val_acc", "validation")):
        acc_ax.plot(epochs, [100 * r[key] for r in history], marker="o", label=label)
    for ax, title_, ylabel in ((loss_ax, "loss", "cross-entropy"), (acc_ax, "accuracy", "%")):
        ax.set(title=title_, xlabel="epoch", ylabel=ylabel)
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    figure.suptitle(title, parse_math=False)  # plain text: a data path such as `data/$x$` is not maths
    # Fixed margins: tight_layout would cost more than the rest of the drawing.
    figure.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.85, wspace=0.25)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    write_atomic(path, buffer.getvalue())
