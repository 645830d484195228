"""Plots of the notebook ``training_basics`` (a linear model ``y = w * x + b``).

Only drawing code: every number plotted (predictions, histories, losses) is computed in the
notebook and passed in, so no exercise is solved here. Each function draws one figure and
returns ``None``, so a cell that ends with the call shows the plot once and no object repr
(``plt.gcf()`` is the figure).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

TRUE_STYLE = {"color": "black", "linestyle": "--", "linewidth": 1.2}


def _np(values: Any) -> np.ndarray:
    """Tensor, Variable, list of those or numpy array -> 1-D float numpy array."""
    if hasattr(values, "numpy"):
        values = values.numpy()
    if isinstance(values, (list, tuple)):
        values = [v.numpy() if hasattr(v, "numpy") else v for v in values]
    return np.asarray(values, dtype=np.float64).ravel()


def plot_data_and_predictions(
    xs: Any,
    ys: Any,
    predictions: Any,
    true_w: float | None = None,
    true_b: float | None = None,
    title: str = "Data and the model's predictions",
) -> None:
    """Scatter the data, draw the model's predictions and (optionally) the true line dashed."""
    x, y, p = _np(xs), _np(ys), _np(predictions)
    order = np.argsort(x)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(x, y, s=8, alpha=0.4, color="tab:blue", label="data")
    ax.plot(x[order], p[order], color="tab:red", linewidth=2, label="predictions")
    if true_w is not None and true_b is not None:
        grid = np.array([x.min(), x.max()])
        ax.plot(grid, true_w * grid + true_b, label="true line", **TRUE_STYLE)
    ax.set(xlabel="x", ylabel="y", title=title)
    ax.legend(loc="upper left")
    fig.tight_layout()


def plot_history(
    ws: Sequence[Any], bs: Sequence[Any], losses: Sequence[Any], true_w: float, true_b: float
) -> None:
    """Left: ``w`` and ``b`` per epoch against the true values (dashed). Right: loss per epoch."""
    w, b, loss = _np(ws), _np(bs), _np(losses)
    epochs = np.arange(len(w))
    fig, (ax_params, ax_loss) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax_params.plot(epochs, w, "o-", color="tab:red", markersize=3, label="w")
    ax_params.plot(epochs, b, "o-", color="tab:blue", markersize=3, label="b")
    ax_params.axhline(true_w, label="true w", **{**TRUE_STYLE, "color": "tab:red"})
    ax_params.axhline(true_b, label="true b", **{**TRUE_STYLE, "color": "tab:blue"})
    ax_params.set(xlabel="epoch", ylabel="value", title="Parameters per epoch")
    ax_params.legend(loc="best", fontsize=8)
    ax_loss.plot(np.arange(len(loss)), loss, "o-", color="tab:green", markersize=3)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="Loss per epoch")
    for ax in (ax_params, ax_loss):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()


def plot_loss_surface(
    loss_fn: Callable[[float, float], Any],
    true_w: float,
    true_b: float,
    ws: Sequence[Any] | None = None,
    bs: Sequence[Any] | None = None,
    span: float = 3.0,
    steps: int = 25,
) -> None:
    """Loss as a function of ``w`` (``b`` at its true value), of ``b`` (``w`` true) and of both.

    ``loss_fn(w, b)`` returns the loss of the model with those parameters on the data; the
    right panel is a contour plot with the training path ``(ws, bs)`` drawn on it.
    """
    w_grid = np.linspace(true_w - span, true_w + span, steps)
    b_grid = np.linspace(true_b - span, true_b + span, steps)
    if ws is not None and bs is not None:
        path_w, path_b = _np(ws), _np(bs)
        w_grid = np.linspace(min(w_grid[0], path_w.min() - 0.5),
                             max(w_grid[-1], path_w.max() + 0.5), steps)
        b_grid = np.linspace(min(b_grid[0], path_b.min() - 0.5),
                             max(b_grid[-1], path_b.max() + 0.5), steps)

    def value(w: float, b: float) -> float:
        return float(np.asarray(loss_fn(float(w), float(b))))

    loss_of_w = [value(w, true_b) for w in w_grid]
    loss_of_b = [value(true_w, b) for b in b_grid]
    surface = np.array([[value(w, b) for w in w_grid] for b in b_grid])

    fig, (ax_w, ax_b, ax_2d) = plt.subplots(1, 3, figsize=(14, 3.8))
    ax_w.plot(w_grid, loss_of_w, color="tab:red")
    ax_w.axvline(true_w, **TRUE_STYLE)
    ax_w.set(xlabel="w", ylabel="loss", title=f"Loss as a function of w (b = {true_b:g})")
    ax_b.plot(b_grid, loss_of_b, color="tab:blue")
    ax_b.axvline(true_b, **TRUE_STYLE)
    ax_b.set(xlabel="b", ylabel="loss", title=f"Loss as a function of b (w = {true_w:g})")
    contours = ax_2d.contourf(w_grid, b_grid, surface, levels=20, cmap="viridis")
    fig.colorbar(contours, ax=ax_2d, label="loss")
    ax_2d.plot(true_w, true_b, marker="*", color="white", markersize=12, label="true (w, b)")
    if ws is not None and bs is not None:
        ax_2d.plot(path_w, path_b, "o-", color="tab:orange", markersize=3, label="training path")
    ax_2d.set(xlabel="w", ylabel="b", title="Loss surface over (w, b)")
    ax_2d.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
