"""Tests of the breast_cancer assignment: its hidden checks, its helpers and its variants.

* fast: the checks of ``autograder.checks.breast_cancer`` run in-process against small
  implementations written here and against every variant file (defined in a namespace that
  stands in for the notebook's globals).

Every variant is also graded in a fresh kernel with the notebook's hidden tests by
tests/test_grading_accuracy.py.
"""

from __future__ import annotations

import os
import textwrap
from typing import Any

import nbformat
import numpy as np
import pytest
import tensorflow as tf  # noqa: E402

from autograder import variants as variants_mod
from autograder.build import source_path
from autograder.checks import CheckFailure
from autograder.checks import breast_cancer as chk

ASSIGNMENT = "breast_cancer"
ALL_VARIANTS = variants_mod.discover(ASSIGNMENT)
CHECKS = {  # grade id -> (check, name of the notebook object it takes)
    "f1_score_matches_sklearn": (chk.check_f1_score, "F1Score"),
    "f1_score_reset_state": (chk.check_f1_reset_state, "F1Score"),
    "apply_gradient_updates_weights": (chk.check_apply_gradient, "apply_gradient"),
    "train_data_for_one_epoch_losses_and_metrics": (
        chk.check_train_data_for_one_epoch, "train_data_for_one_epoch"),
    "perform_validation_losses_and_metrics": (
        chk.check_perform_validation, "perform_validation"),
    "train_model_resets_metrics": (chk.check_train_model, "train_model"),
}


def notebook_namespace(code: str) -> dict[str, Any]:
    """Run ``code`` in a fresh dict that plays the notebook's globals (like a kernel does)."""
    namespace: dict[str, Any] = {"tf": tf, "np": np, "__name__": "__main__"}
    exec(compile(textwrap.dedent(code), "<notebook>", "exec"), namespace)  # noqa: S102
    return namespace


def solution_cells(variant: variants_mod.Variant | None = None) -> dict[str, str]:
    """The source notebook's solution cells (markers stripped), with a variant's replacements."""
    nb = nbformat.read(source_path(ASSIGNMENT), as_version=4)
    cells = {
        c.metadata["nbgrader"]["grade_id"]: variants_mod.solution_body(c.source)
        for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("solution")
    }
    if variant is not None:
        cells.update(variant.cells)
    return cells


def failure(grade_id: str, namespace: dict[str, Any]) -> str | None:
    """The check's failure message, or None if it passes."""
    check, name = CHECKS[grade_id]
    try:
        check(namespace[name])
    except CheckFailure as exc:
        return str(exc)
    return None


# ------------------------------------------------------------------------ small implementations

F1_GOOD = """
class F1Score(tf.keras.metrics.Metric):
    def __init__(self, name='f1_score', **kwargs):
        super().__init__(name=name, **kwargs)
        self.tp = self.add_variable(shape=(), initializer='zeros', name='tp')
        self.fp = self.add_variable(shape=(), initializer='zeros', name='fp')
        self.tn = self.add_variable(shape=(), initializer='zeros', name='tn')
        self.fn = self.add_variable(shape=(), initializer='zeros', name='fn')

    def update_state(self, y_true, y_pred, sample_weight=None):
        t = tf.reshape(tf.cast(y_true, tf.bool), [-1])
        p = tf.reshape(tf.cast(y_pred, tf.bool), [-1])
        count = lambda m: tf.reduce_sum(tf.cast(m, tf.float32))
        self.tp.assign_add(count(t & p))
        self.fp.assign_add(count(~t & p))
        self.tn.assign_add(count(~t & ~p))
        self.fn.assign_add(count(t & ~p))

    def result(self):
        precision = tf.math.divide_no_nan(self.tp, self.tp + self.fp)
        recall = tf.math.divide_no_nan(self.tp, self.tp + self.fn)
        return FORMULA

    def reset_state(self):
        RESET
"""
F1_FORMULA = "tf.math.divide_no_nan(2 * precision * recall, precision + recall)"
F1_RESET = "for v in self.variables: v.assign(0.0)"


def f1_class(formula: str = F1_FORMULA, reset: str = F1_RESET, tracked: bool = True) -> type:
    code = F1_GOOD.replace("FORMULA", formula).replace("RESET", reset)
    if not tracked:
        code = code.replace("self.add_variable(shape=(), initializer='zeros', name='tp')",
                            "tf.Variable(0.0)")
        for c in ("fp", "tn", "fn"):
            code = code.replace(
                f"self.add_variable(shape=(), initializer='zeros', name='{c}')",
                "tf.Variable(0.0)")
    return notebook_namespace(code)["F1Score"]


def test_f1_checks_pass_a_correct_metric() -> None:
    chk.check_f1_score(f1_class())
    chk.check_f1_reset_state(f1_class())


def test_f1_rearranged_formula_passes() -> None:
    chk.check_f1_score(f1_class("tf.math.divide_no_nan(2 * self.tp, 2 * self.tp + self.fp "
                                "+ self.fn)"))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"formula": "tf.math.divide_no_nan(precision * recall, precision + recall)"},
     "factor 2 is missing"),
    ({"formula": "2 * precision * recall / (precision + recall)"}, "divide_no_nan"),
    ({"formula": "(precision + recall) / 2"}, "2 * precision * recall"),
    ({"tracked": False}, "tf.Variable instead of self.add_variable"),
])
def test_f1_score_check_names_the_mistake(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(CheckFailure, match=None) as info:
        chk.check_f1_score(f1_class(**kwargs))
    assert message in str(info.value)
    assert "expected" in str(info.value) and "Likely mistake" in str(info.value)


def test_f1_reset_check_names_the_counter_left() -> None:
    metric_cls = f1_class(reset="self.tp.assign(0.0); self.fp.assign(0.0); "
                                "self.tn.assign(0.0)")
    with pytest.raises(CheckFailure, match="not zero: fn="):
        chk.check_f1_reset_state(metric_cls)
    with pytest.raises(CheckFailure, match="add_variable"):
        chk.check_f1_reset_state(f1_class(tracked=False))


def test_f1_one_convention_for_undefined_precision() -> None:
    """The original notebook's precision = recall = 1 when undefined is named as the mistake."""
    formula = ("tf.where(self.tp + self.fp + self.fn > 0, tf.math.divide_no_nan(2 * precision "
               "* recall, precision + recall), 1.0)")
    with pytest.raises(CheckFailure, match="zero_division=0"):
        chk.check_f1_score(f1_class(formula))


APPLY_GRADIENT = """
def apply_gradient(optimizer, loss_object, model, x, y):
    with tf.GradientTape() as tape:
        logits = model(x)
        loss_value = LOSS
    gradients = tape.gradient(loss_value, WEIGHTS)
    STEP
    return logits, loss_value
"""


def apply_gradient_fn(loss: str = "loss_object(y_true=y, y_pred=logits)",
                      weights: str = "model.trainable_weights",
                      step: str = "optimizer.apply_gradients(zip(gradients, WEIGHTS))") -> Any:
    code = APPLY_GRADIENT.replace("STEP", step).replace("LOSS", loss).replace("WEIGHTS", weights)
    return notebook_namespace(code)["apply_gradient"]


@pytest.mark.parametrize("loss", ["loss_object(y_true=y, y_pred=logits)",
                                  "loss_object(y, logits)",
                                  "loss_object(y_pred=logits, y_true=y)"])
def test_apply_gradient_check_passes_correct_versions(loss: str) -> None:
    chk.check_apply_gradient(apply_gradient_fn(loss=loss))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"step": "pass"}, "did not change"),
    ({"weights": "model.trainable_weights[:2]"}, "these weights did not change"),
    ({"step": "optimizer.apply_gradients(zip(gradients, WEIGHTS)); "
              "optimizer.apply_gradients(zip(gradients, WEIGHTS))"}, "exactly once"),
    ({"loss": "-tf.reduce_mean(tf.reshape(y, [-1]) * tf.math.log(logits) + "
              "(1 - tf.reshape(y, [-1])) * tf.math.log(1 - logits))"}, "broadcast to (n, n)"),
])
def test_apply_gradient_check_names_the_mistake(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(CheckFailure) as info:
        chk.check_apply_gradient(apply_gradient_fn(**kwargs))
    assert message in str(info.value)


EPOCH = """
def apply_gradient(optimizer, loss_object, model, x, y):
    raise AssertionError("the check must use its reference apply_gradient")

def train_data_for_one_epoch(train_dataset, optimizer, loss_object, model,
                             train_acc_metric, train_f1score_metric, verbose=True):
    losses = []
    for step, (x, y) in enumerate(train_dataset):
        logits, loss_value = apply_gradient(optimizer, loss_object, model, x, y)
        losses.append(loss_value)
        predictions = PREDICTIONS
        train_acc_metric.update_state(y, predictions)
        train_f1score_metric.update_state(y, predictions)
        if verbose:
            print(step, float(loss_value))
    return RETURN
"""


@pytest.mark.parametrize(("predictions", "returned", "message"), [
    ("tf.round(logits)", "losses", None),
    ("tf.cast(tf.round(logits), 'int64')", "losses", None),
    ("logits", "losses", "unrounded"),
    ("tf.round(model(x))", "losses", "recomputed after the weights changed"),
    ("tf.round(logits)", "losses[-1:]", "one loss per batch"),
    ("tf.round(logits)", "[np.mean(losses)]", "one loss per batch"),
])
def test_train_data_for_one_epoch_check(predictions: str, returned: str,
                                        message: str | None) -> None:
    namespace = notebook_namespace(EPOCH.replace("PREDICTIONS", predictions)
                                   .replace("RETURN", returned))
    fn = namespace["train_data_for_one_epoch"]
    if message is None:
        chk.check_train_data_for_one_epoch(fn)
    else:
        with pytest.raises(CheckFailure, match=None) as info:
            chk.check_train_data_for_one_epoch(fn)
        assert message in str(info.value)
    # the notebook's own apply_gradient is back after the check
    with pytest.raises(AssertionError, match="reference"):
        namespace["apply_gradient"](None, None, None, None, None)


VALIDATION_GLOBALS = """
test_dataset = model = loss_object = val_acc_metric = val_f1score_metric = "notebook's"

def perform_validation():
    losses = []
    for x_val, y_val in test_dataset:
        val_logits = model(x_val)
        losses.append(loss_object(y_true=y_val, y_pred=val_logits))
        val_acc_metric.update_state(y_val, PREDICTIONS)
        val_f1score_metric.update_state(y_val, PREDICTIONS)
    return losses
"""


def test_perform_validation_original_no_argument_style() -> None:
    namespace = notebook_namespace(VALIDATION_GLOBALS.replace(
        "PREDICTIONS", "tf.cast(tf.round(model(x_val)), 'int64')"))
    chk.check_perform_validation(namespace["perform_validation"])
    assert namespace["model"] == "notebook's"  # injected objects removed again


def test_perform_validation_explicit_arguments_and_mistakes() -> None:
    code = solution_cells()["perform_validation"]
    chk.check_perform_validation(notebook_namespace(code)["perform_validation"])
    unrounded = notebook_namespace(VALIDATION_GLOBALS.replace("PREDICTIONS", "val_logits"))
    with pytest.raises(CheckFailure, match=r"tf\.round\(logits\)"):
        chk.check_perform_validation(unrounded["perform_validation"])


LOOP = """
def train_model(epochs, train_dataset, test_dataset, model, optimizer, loss_object,
                train_acc_metric, train_f1score_metric, val_acc_metric, val_f1score_metric):
    train_losses, val_losses = [], []
    metrics = [train_acc_metric, train_f1score_metric, val_acc_metric, val_f1score_metric]
    for epoch in range(epochs):
        BEFORE
        lt = train_data_for_one_epoch(train_dataset, optimizer, loss_object, model,
                                      train_acc_metric, train_f1score_metric)
        lv = perform_validation(test_dataset, model, loss_object, val_acc_metric,
                                val_f1score_metric)
        MIDDLE
        print([float(m.result()) for m in metrics])
        train_losses.append(np.mean(lt))
        val_losses.append(np.mean(lv))
        AFTER
    return train_losses, val_losses
"""
RESET_ALL = "for m in metrics: m.reset_state()"


@pytest.mark.parametrize(("before", "middle", "after", "message"), [
    ("pass", "pass", RESET_ALL, None),
    (RESET_ALL, "pass", "pass", None),
    ("pass", "pass", "pass", "was never reset"),
    ("pass", "pass", "for m in metrics[:3]: m.reset_state()",
     "val_f1score_metric was never reset"),
    ("pass", RESET_ALL, "pass", "reset before its result was read"),
    ("pass", "pass", "if epoch == 0: [m.reset_state() for m in metrics]",
     "not reset after every epoch"),
])
def test_train_model_check(before: str, middle: str, after: str, message: str | None) -> None:
    namespace = notebook_namespace(
        LOOP.replace("BEFORE", before).replace("MIDDLE", middle).replace("AFTER", after))
    if message is None:
        chk.check_train_model(namespace["train_model"])
    else:
        with pytest.raises(CheckFailure) as info:
            chk.check_train_model(namespace["train_model"])
        assert message in str(info.value)
    assert "train_data_for_one_epoch" not in namespace  # references injected only during


def test_train_model_check_compares_returned_means() -> None:
    code = LOOP.replace("BEFORE", "pass").replace("MIDDLE", "pass").replace("AFTER", RESET_ALL)
    namespace = notebook_namespace(code.replace("np.mean(lt)", "lt[-1]"))
    with pytest.raises(CheckFailure, match="epochs_train_losses"):
        chk.check_train_model(namespace["train_model"])


def test_injected_restores_the_namespace() -> None:
    namespace = {"model": "mine"}
    with pytest.raises(RuntimeError), chk._injected(namespace, model=1, extra=2):
        assert namespace == {"model": 1, "extra": 2}
        raise RuntimeError
    assert namespace == {"model": "mine"}


# ---------------------------------------------------------------------- variants in-process


@pytest.mark.parametrize("variant", ALL_VARIANTS, ids=lambda v: v.name)
def test_variant_in_process(variant: variants_mod.Variant) -> None:
    """Hidden checks alone, each variant's cells defined in a notebook-like namespace.

    A correct variant must pass every check; a mutant must fail the ones it lists (only those
    run here, to keep this fast; the kernel test grades every cell).
    """
    namespace = notebook_namespace("\n\n".join(solution_cells(variant).values()))
    grade_ids = list(CHECKS) if variant.is_correct else variant.fails
    results = {grade_id: failure(grade_id, namespace) for grade_id in grade_ids}
    if variant.is_correct:
        assert results == dict.fromkeys(CHECKS), results
        return
    for grade_id in variant.fails:
        assert results[grade_id] is not None, f"{variant.name}: {grade_id} passed"
    first = results[variant.fails[0]]
    assert variant.message.lower() in first.lower(), first


def test_variants_cover_the_brief() -> None:
    correct = [v for v in ALL_VARIANTS if v.is_correct]
    mutants = [v for v in ALL_VARIANTS if not v.is_correct]
    assert len(correct) >= 4 and len(mutants) >= 10
    assert {g for v in mutants for g in v.fails} == set(CHECKS)


# ----------------------------------------------------------------------------- tfcourse.cancer


@pytest.fixture
def data_mirror() -> None:
    if not os.environ.get("TFCOURSE_DATA_MIRROR") and not (
            chk_data_dir() / "breast-cancer-wisconsin.data").is_file():
        pytest.fail("set TFCOURSE_DATA_MIRROR to the folder holding the data file")


def chk_data_dir() -> Any:
    from tfcourse import data

    return data.data_dir()


def test_load_raw_is_the_uncleaned_file(data_mirror: None) -> None:
    from tfcourse import cancer

    df = cancer.load_raw()
    assert list(df.columns) == cancer.COLUMNS
    assert df.shape == (699, 11)
    assert int((df["bare_nuclei"] == "?").sum()) == 16
    assert sorted(df["class"].unique()) == [2, 4]


def test_plots_return_titled_axes() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tfcourse import cancer

    ax = cancer.plot_confusion_matrix(np.array([[0], [1], [1]]), np.array([0.0, 1.0, 0.0]),
                                      title="T")
    assert ax.get_title() == "T"
    assert [t.get_text() for t in ax.texts] == ["1", "0", "1", "1"]  # rows: true class
    assert cancer.plot_loss_curves([0.7, 0.5], [0.6, 0.4]).get_lines()[0].get_ydata()[1] == 0.5
    assert cancer.plot_class_histogram([2, 2, 4]).patches[0].get_height() == 2
    plt.close("all")
