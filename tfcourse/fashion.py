"""Plots for the Fashion-MNIST notebook: loss curves and a grid of labelled predictions.

Only drawing code lives here; the training loop the notebook teaches stays in the notebook.
The functions return ``None`` (``plt.gcf()`` is the figure), so a cell that ends with a call
shows the plot once and no object repr.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

RIGHT_COLOUR = "black"
WRONG_COLOUR = "red"


def _as_floats(values: Sequence[Any]) -> list[float]:
    return [float(np.asarray(v.numpy() if hasattr(v, "numpy") else v)) for v in values]


def plot_loss_curves(
    history: Mapping[str, Sequence[Any]],
    title: str = "Loss per epoch",
    ax: Any = None,
) -> None:
    """Plot ``history["loss"]`` and ``history["val_loss"]`` against the epoch (on ``ax`` if given).

    ``history`` is a dict of per-epoch lists such as the one ``fit_custom`` returns, or
    ``keras.callbacks.History.history``.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    for key, label, style in (("loss", "train", "o-"), ("val_loss", "validation", "s--")):
        if key in history and len(history[key]):
            values = _as_floats(history[key])
            ax.plot(range(1, len(values) + 1), values, style, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()


def plot_predictions(
    images: Any,
    labels: Any,
    predictions: Any,
    class_names: Sequence[str],
    columns: int = 8,
    max_images: int = 32,
) -> None:
    """Grid of images titled ``predicted (true)``; wrong predictions in red.

    ``images`` are flat 784-vectors or 28x28 arrays in [0, 1]; ``predictions`` are class
    probabilities (one row per image) or predicted class ids.
    """
    import matplotlib.pyplot as plt

    images = np.asarray(images)[:max_images]
    labels = np.asarray(labels).reshape(-1)[: len(images)].astype(int)
    predictions = np.asarray(predictions)[: len(images)]
    predicted = predictions.argmax(axis=-1) if predictions.ndim == 2 else predictions.astype(int)
    n = len(images)
    columns = max(1, min(columns, n))
    rows = max(1, -(-n // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.5 * columns, 1.75 * rows), squeeze=False)
    for index, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if index >= n:
            continue
        ax.imshow(images[index].reshape(28, 28), cmap="binary")
        wrong = predicted[index] != labels[index]
        ax.set_title(
            f"{class_names[predicted[index]]}\n({class_names[labels[index]]})",
            fontsize=7,
            color=WRONG_COLOUR if wrong else RIGHT_COLOUR,
        )
    wrong_count = int(np.sum(predicted != labels))
    fig.suptitle(f"predicted (true): {wrong_count} of {n} wrong, in red", fontsize=9)
    fig.tight_layout()
