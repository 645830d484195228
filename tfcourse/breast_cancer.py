"""Breast Cancer Wisconsin (Original) for the ``breast_cancer`` assignment: loading and plots.

:func:`load_raw` returns the file exactly as published (699 rows, ``?`` in ``bare_nuclei``,
classes 2 and 4), with the column names of the UCI attribute list written in snake_case. The
cleaning steps (drop ``id``, drop the ``?`` rows, map the classes to 0/1) are taught in the
notebook, so they are not done here. Nothing in this module is an exercise solution. The plot
functions show their figure and return ``None``, so no ``<Axes: ...>`` repr follows a plot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tfcourse import data

FILE_NAME = "breast-cancer-wisconsin.data"

# UCI attribute list, in file order. The original Coursera notebook misspelled two of these
# ("marginal_adheshion", "single_eph_cell_size") and abbreviated two more.
COLUMNS = [
    "id",
    "clump_thickness",
    "uniformity_of_cell_size",
    "uniformity_of_cell_shape",
    "marginal_adhesion",
    "single_epithelial_cell_size",
    "bare_nuclei",
    "bland_chromatin",
    "normal_nucleoli",
    "mitoses",
    "class",
]
FEATURES = [c for c in COLUMNS if c not in ("id", "class")]
CLASS_NAMES = ("benign", "malignant")  # after mapping 2 -> 0 and 4 -> 1


def load_raw() -> Any:
    """The data file as a pandas DataFrame with snake_case column names, uncleaned.

    ``bare_nuclei`` is read as text because 16 rows hold ``?`` there.
    """
    import pandas as pd

    return pd.read_csv(
        data.path(FILE_NAME), header=None, names=COLUMNS, dtype={"bare_nuclei": str}
    )


def plot_class_histogram(labels: Sequence[Any], title: str = "Class counts") -> None:
    """Bar chart of how many rows each class value has."""
    import matplotlib.pyplot as plt

    values, counts = np.unique(np.asarray(labels).ravel(), return_counts=True)
    _, ax = plt.subplots(figsize=(4, 3))
    ax.bar([str(v) for v in values], counts, color="tab:blue")
    for i, count in enumerate(counts):
        ax.annotate(str(count), (i, count), ha="center", va="bottom")
    ax.set_ylim(0, counts.max() * 1.15)  # room for the labels under the title
    ax.set_xlabel("class")
    ax.set_ylabel("rows")
    ax.set_title(title)
    plt.show()


def plot_loss_curves(
    train_losses: Sequence[float],
    val_losses: Sequence[float],
    title: str = "Loss per epoch",
) -> None:
    """Training and validation loss per epoch on one chart."""
    import matplotlib.pyplot as plt

    epochs = np.arange(1, len(train_losses) + 1)
    _, ax = plt.subplots(figsize=(5, 3))
    ax.plot(epochs, [float(v) for v in train_losses], marker="o", label="training")
    ax.plot(epochs, [float(v) for v in val_losses], marker="o", label="validation")
    ax.set_xticks(epochs)
    ax.set_xlabel("epoch")
    ax.set_ylabel("binary cross-entropy")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.legend()
    plt.show()


def plot_confusion_matrix(
    y_true: Any,
    y_pred: Any,
    title: str = "Confusion matrix",
    class_names: Sequence[str] = CLASS_NAMES,
) -> None:
    """Confusion matrix of 0/1 labels and 0/1 predictions (any shape).

    Rows are the true class, columns the predicted class, as in scikit-learn.
    """
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix

    y_true = np.asarray(y_true).ravel().astype(int)
    y_pred = np.asarray(y_pred).ravel().astype(int)
    cm = confusion_matrix(y_true, y_pred, labels=list(range(len(class_names))))
    _, ax = plt.subplots(figsize=(4, 3.5))
    ax.imshow(cm, cmap="Blues")
    for (i, j), count in np.ndenumerate(cm):
        colour = "white" if count > cm.max() / 2 else "black"
        ax.text(j, i, str(count), ha="center", va="center", color=colour)
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, labels=list(class_names))
    ax.set_yticks(ticks, labels=list(class_names))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    plt.show()
