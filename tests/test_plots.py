"""The tfcourse plot helpers draw what they should and leave no object repr under a plot.

A helper that returns a Figure or an Axes makes a notebook cell ending with the call print
``<Axes: ...>`` (or show the figure twice); they all return ``None``. The drawing itself is
checked on ``plt.gcf()`` with the Agg backend, and the notebook behaviour in a real kernel.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tfcourse import breast_cancer as cancer  # noqa: E402
from tfcourse import fashion_mnist as fashion  # noqa: E402
from tfcourse import training_basics as basics  # noqa: E402
from tfcourse.fashion_mnist import CLASS_NAMES  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_fashion_plots_draw_and_mark_wrong_predictions_red() -> None:
    assert fashion.plot_loss_curves({"loss": [2.0, 1.5, 1.2], "val_loss": [2.1, 1.7, 1.6]}) is None
    assert [len(line.get_xdata()) for line in plt.gcf().axes[0].get_lines()] == [3, 3]
    images = np.random.default_rng(0).random((5, 784))
    probs = np.eye(10)[[0, 1, 9, 3, 9]]
    assert fashion.plot_predictions(images, np.arange(5), probs, CLASS_NAMES, columns=3) is None
    fig = plt.gcf()
    colours = [ax.title.get_color() for ax in fig.axes if ax.get_title()]
    assert colours == ["black", "black", "red", "black", "red"]
    assert "2 of 5 wrong" in fig._suptitle.get_text()


def test_cancer_plots_draw_titled_charts() -> None:
    y_true, y_pred = np.array([[0], [1], [1]]), np.array([0.0, 1.0, 0.0])
    assert cancer.plot_confusion_matrix(y_true, y_pred, title="T") is None
    ax = plt.gcf().axes[0]
    assert ax.get_title() == "T"
    assert [t.get_text() for t in ax.texts] == ["1", "0", "1", "1"]  # rows: true class
    assert cancer.plot_loss_curves([0.7, 0.5], [0.6, 0.4]) is None
    assert plt.gcf().axes[0].get_lines()[0].get_ydata()[1] == 0.5
    assert cancer.plot_class_histogram([2, 2, 4]) is None
    assert plt.gcf().axes[0].patches[0].get_height() == 2


def test_basics_plots_draw_data_history_and_surface() -> None:
    xs = np.linspace(-1, 1, 20)
    assert basics.plot_data_and_predictions(xs, 3 * xs + 2, 2 * xs, 3.0, 2.0) is None
    assert len(plt.gcf().axes[0].get_lines()) == 2  # predictions and the true line
    assert basics.plot_history([0, 1, 2], [0, 1, 1.5], [5, 2, 1], 3.0, 2.0) is None
    assert [ax.get_title() for ax in plt.gcf().axes] == ["Parameters per epoch", "Loss per epoch"]
    assert basics.plot_loss_surface(lambda w, b: (w - 3) ** 2 + (b - 2) ** 2, 3.0, 2.0,
                                    steps=5) is None
    assert len(plt.gcf().axes) == 4  # three panels and the colour bar


CELLS = {
    "basics.plot_history": "from tfcourse import training_basics as basics\n"
                           "basics.plot_history([0, 1], [0, 1], [2, 1], 1.0, 1.0)",
    "fashion.plot_loss_curves": "from tfcourse import fashion_mnist as fashion\n"
                                "fashion.plot_loss_curves({'loss': [2, 1], 'val_loss': [2, 1]})",
    "cancer.plot_class_histogram": "from tfcourse import breast_cancer as cancer\n"
                                   "cancer.plot_class_histogram([2, 2, 4])",
    "cancer.plot_confusion_matrix": "cancer.plot_confusion_matrix([0, 1], [0, 0])",
    "cancer.plot_loss_curves": "cancer.plot_loss_curves([0.7, 0.5], [0.6, 0.4])",
}


@pytest.mark.slow
def test_a_cell_ending_with_a_plot_shows_one_image_and_no_repr() -> None:
    """In a real kernel (inline backend): one PNG per cell, no execute_result, no stderr."""
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS.values()])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    for name, cell in zip(CELLS, nb.cells, strict=True):
        kinds = [o.output_type for o in cell.outputs]
        images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        assert "execute_result" not in kinds, f"{name}: {cell.outputs}"
        assert "stream" not in kinds, f"{name} printed: {cell.outputs}"
        assert len(images) == 1, f"{name}: {len(images)} images"
