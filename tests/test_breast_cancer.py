"""Tests of the breast_cancer assignment: its observers and judge, its helpers and variants.

Fast: every grade cell is observed and judged in-process with :func:`autograder.judge.local.run`
on small implementations written here (defined in a dict that plays the notebook's globals)
and on every variant file: right implementations pass with several seeds, each typical mistake
fails with the message that names it, a mutant loses points only in the cells it lists, and a
missing or malformed observation scores 0.

Every variant is also graded through the real pipeline by tests/test_grading_accuracy.py.
"""

from __future__ import annotations

import os
import textwrap
from typing import Any

import nbformat
import numpy as np
import pytest
import tensorflow as tf

from autograder.build import source_path
from autograder.judge import breast_cancer as judge
from autograder.judge import local, protocol
from autograder.qa import variants as variants_mod

ASSIGNMENT = "breast_cancer"
ALL_VARIANTS = variants_mod.discover(ASSIGNMENT)
SEEDS = (1, 2, 3)
CELLS = {  # grade id -> the notebook object its test cell passes to the observer
    "f1_score_matches_sklearn": "F1Score",
    "f1_score_reset_state": "F1Score",
    "apply_gradient_updates_weights": "apply_gradient",
    "train_data_for_one_epoch_losses_and_metrics": "train_data_for_one_epoch",
    "perform_validation_losses_and_metrics": "perform_validation",
    "train_model_resets_metrics": "train_model",
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


def reference() -> dict[str, Any]:
    return notebook_namespace("\n\n".join(solution_cells().values()))


def verdict(grade_id: str, fn: Any, seed: int = 0) -> Any:
    return local.run(ASSIGNMENT, grade_id, fn, seed=seed)


def assert_fails(grade_id: str, fn: Any, message: str, seed: int = 0) -> str:
    result = verdict(grade_id, fn, seed)
    assert not result.passed, f"{grade_id} passed"
    assert message.lower() in result.message.lower(), result.message
    return result.message


# ------------------------------------------------------------------------------ F1Score

F1 = """
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
        self.tp.ADD(count(t & p))
        self.fp.ADD(count(~t & p))
        self.tn.ADD(count(~t & ~p))
        self.fn.ADD(count(t & ~p))

    def result(self):
        precision = tf.math.divide_no_nan(self.tp, self.tp + self.fp)
        recall = tf.math.divide_no_nan(self.tp, self.tp + self.fn)
        return FORMULA

    def reset_state(self):
        RESET
"""
F1_FORMULA = "tf.math.divide_no_nan(2 * precision * recall, precision + recall)"
F1_RESET = "for v in self.variables: v.assign(0.0)"


def f1_class(formula: str = F1_FORMULA, reset: str = F1_RESET, tracked: bool = True,
             add: str = "assign_add") -> type:
    code = F1.replace("FORMULA", formula).replace("RESET", reset).replace("ADD", add)
    if not tracked:
        for c in ("tp", "fp", "tn", "fn"):
            code = code.replace(
                f"self.add_variable(shape=(), initializer='zeros', name='{c}')",
                "tf.Variable(0.0)")
    return notebook_namespace(code)["F1Score"]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("formula", [
    F1_FORMULA, "tf.math.divide_no_nan(2 * self.tp, 2 * self.tp + self.fp + self.fn)"])
def test_f1_right_metric_passes(seed: int, formula: str) -> None:
    for grade_id in ("f1_score_matches_sklearn", "f1_score_reset_state"):
        result = verdict(grade_id, f1_class(formula), seed)
        assert result.passed, result.message


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"formula": "tf.math.divide_no_nan(precision * recall, precision + recall)"},
     "factor 2 is missing"),
    ({"formula": "tf.math.divide_no_nan(precision + recall, 2.0)"}, "F1 formula"),
    ({"formula": "2 * precision * recall / (precision + recall)"}, "divide_no_nan"),
    ({"formula": "tf.where(self.tp + self.fp + self.fn > 0, tf.math.divide_no_nan(2 * "
                 "precision * recall, precision + recall), 1.0)"}, "zero_division=0"),
    ({"tracked": False}, "tf.Variable instead of self.add_variable"),
    ({"add": "assign"}, "assign_add"),
])
def test_f1_score_names_the_mistake(kwargs: dict[str, Any], message: str) -> None:
    text = assert_fails("f1_score_matches_sklearn", f1_class(**kwargs), message)
    assert "expected" in text and "Likely mistake" in text
    assert "reset_state" not in text  # the formula is not blamed on reset_state


def test_wrong_f1_formula_is_not_a_reset_mistake() -> None:
    """A wrong formula fails the F1 cell only: reset_state is judged against the student's own
    class (a new metric given the same batches)."""
    wrong = f1_class("tf.math.divide_no_nan(precision * recall, precision + recall)")
    assert verdict("f1_score_reset_state", wrong).passed
    nan = f1_class("2 * precision * recall / (precision + recall)")
    assert verdict("f1_score_reset_state", nan).passed


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"reset": "self.tp.assign(0.0); self.fp.assign(0.0); self.tn.assign(0.0)"},
     "not zero: fn="),
    ({"reset": "pass"}, "not zero"),
    ({"tracked": False}, "add_variable"),
])
def test_f1_reset_names_the_mistake(kwargs: dict[str, Any], message: str) -> None:
    assert_fails("f1_score_reset_state", f1_class(**kwargs), message)


def test_f1_reset_that_keeps_python_state_fails() -> None:
    """State kept outside the counters (here a Python offset) is caught by comparing with a
    new metric's results."""
    code = F1.replace("FORMULA", "tf.math.divide_no_nan(2 * self.tp + self.extra, 2 * self.tp "
                                 "+ self.fp + self.fn + self.extra)")
    code = code.replace("RESET", "for v in self.variables: v.assign(0.0)")
    code = code.replace("ADD", "assign_add").replace(
        "self.fn.assign_add(count(t & ~p))",
        "self.fn.assign_add(count(t & ~p)); self.extra = self.extra + 1.0")
    code = code.replace("super().__init__(name=name, **kwargs)",
                        "super().__init__(name=name, **kwargs); self.extra = 0.0")
    assert_fails("f1_score_reset_state", notebook_namespace(code)["F1Score"],
                 "reset_state must set back everything")


# ------------------------------------------------------------------------ apply_gradient

APPLY = """
def apply_gradient(optimizer, loss_object, model, x, y):
    with tf.GradientTape() as tape:
        logits = FORWARD
        loss_value = LOSS
    gradients = tape.gradient(loss_value, WEIGHTS)
    STEP
    return logits, loss_value
"""


def apply_fn(forward: str = "model(x, training=True)",
             loss: str = "loss_object(y_true=y, y_pred=logits)",
             weights: str = "model.trainable_weights",
             step: str = "optimizer.apply_gradients(zip(gradients, WEIGHTS))",
             code: str = APPLY) -> Any:
    code = (code.replace("STEP", step).replace("FORWARD", forward).replace("LOSS", loss)
            .replace("WEIGHTS", weights))
    return notebook_namespace(code)["apply_gradient"]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kwargs", [
    {}, {"forward": "model(x)"}, {"loss": "loss_object(y, logits)"},
    {"loss": "loss_object(y_pred=logits, y_true=y)", "weights": "model.trainable_variables"},
    {"step": "optimizer.apply(gradients, model.trainable_weights)"},
])
def test_apply_gradient_right_versions_pass(seed: int, kwargs: dict[str, str]) -> None:
    result = verdict("apply_gradient_updates_weights", apply_fn(**kwargs), seed)
    assert result.passed, result.message


AFTER_STEP = """
def apply_gradient(optimizer, loss_object, model, x, y):
    with tf.GradientTape() as tape:
        loss_value = loss_object(y, model(x))
    gradients = tape.gradient(loss_value, model.trainable_weights)
    optimizer.apply_gradients(zip(gradients, model.trainable_weights))
    logits = model(x)
    return logits, LOSS_AFTER
"""
OUTSIDE = """
def apply_gradient(optimizer, loss_object, model, x, y):
    logits = model(x)
    with tf.GradientTape() as tape:
        loss_value = loss_object(y, logits)
    gradients = tape.gradient(loss_value, model.trainable_weights)
    optimizer.apply_gradients(zip(gradients, model.trainable_weights))
    return logits, loss_value
"""
ASCENT = """
def apply_gradient(optimizer, loss_object, model, x, y):
    with tf.GradientTape() as tape:
        logits = model(x)
        loss_value = loss_object(y, logits)
    gradients = tape.gradient(loss_value, model.trainable_weights)
    for g, w in zip(gradients, model.trainable_weights):
        w.assign_add(optimizer.learning_rate * g)
    return logits, loss_value
"""


@pytest.mark.parametrize(("make", "message"), [
    (lambda: apply_fn(step="pass"), "weights did not change"),
    (lambda: apply_fn(weights="model.trainable_weights[-2:]"), "these weights did not change"),
    (lambda: apply_fn(step="optimizer.apply_gradients(zip(gradients, WEIGHTS)); "
                           "optimizer.apply_gradients(zip(gradients, WEIGHTS))"),
     "applied twice"),
    (lambda: notebook_namespace(ASCENT)["apply_gradient"], "gradient ascent"),
    (lambda: notebook_namespace(OUTSIDE)["apply_gradient"], "GradientTape"),
    (lambda: notebook_namespace(AFTER_STEP.replace("LOSS_AFTER", "loss_value"))[
        "apply_gradient"], "logits were computed after the optimizer step"),
    (lambda: notebook_namespace(AFTER_STEP.replace("logits = model(x)\n", "logits = model(x)\n"
                                                   "    loss_value = loss_object(y, logits)\n")
                                .replace("LOSS_AFTER", "loss_value"))["apply_gradient"],
     "after the optimizer step"),
    (lambda: apply_fn(loss="-tf.reduce_mean(tf.reshape(y, [-1]) * tf.math.log(logits) + "
                           "(1 - tf.reshape(y, [-1])) * tf.math.log(1 - logits))"),
     "broadcast to (n, n)"),
    (lambda: apply_fn(loss="tf.reduce_sum(tf.keras.losses.binary_crossentropy(y, logits))"),
     "sum over the batch"),
])
def test_apply_gradient_names_the_mistake(make: Any, message: str) -> None:
    assert_fails("apply_gradient_updates_weights", make(), message)


def test_loss_after_step_is_named() -> None:
    """Logits right, but the loss recomputed on the updated weights."""
    code = """
def apply_gradient(optimizer, loss_object, model, x, y):
    with tf.GradientTape() as tape:
        logits = model(x)
        loss_value = loss_object(y, logits)
    gradients = tape.gradient(loss_value, model.trainable_weights)
    optimizer.apply_gradients(zip(gradients, model.trainable_weights))
    return logits, loss_object(y, model(x))
"""
    assert_fails("apply_gradient_updates_weights", notebook_namespace(code)["apply_gradient"],
                 "the loss was computed after the optimizer step")


# -------------------------------------------------------------- train_data_for_one_epoch

EPOCH = """
def apply_gradient(optimizer, loss_object, model, x, y):
    raise AssertionError("the observer must replace apply_gradient")

def train_data_for_one_epoch(train_dataset, optimizer, loss_object, model,
                             train_acc_metric, train_f1score_metric, verbose=True):
    losses = []
    for step, (x, y) in enumerate(train_dataset):
        logits, loss_value = apply_gradient(optimizer, loss_object, model, x, y)
        losses.append(loss_value)
        predictions = PREDICTIONS
        train_acc_metric.update_state(y, predictions)
        train_f1score_metric.update_state(y, predictions)
        EXTRA
        if verbose:
            print(step, float(loss_value))
    return RETURN
"""


def epoch_fn(predictions: str = "tf.round(logits)", returned: str = "losses",
             extra: str = "pass") -> tuple[Any, dict]:
    namespace = notebook_namespace(EPOCH.replace("PREDICTIONS", predictions)
                                   .replace("RETURN", returned).replace("EXTRA", extra))
    return namespace["train_data_for_one_epoch"], namespace


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("predictions", ["tf.round(logits)",
                                         "tf.cast(tf.round(logits), 'int64')"])
def test_epoch_right_versions_pass(seed: int, predictions: str) -> None:
    fn, namespace = epoch_fn(predictions)
    result = verdict("train_data_for_one_epoch_losses_and_metrics", fn, seed)
    assert result.passed, result.message
    with pytest.raises(AssertionError, match="replace"):  # the notebook's own is back
        namespace["apply_gradient"](None, None, None, None, None)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"predictions": "logits"}, "tf.round(logits)"),
    ({"predictions": "tf.round(model(x))"}, "recomputed after the weights changed"),
    ({"returned": "losses[-1:]"}, "one loss per batch"),
    ({"returned": "[np.mean(losses)]"}, "mean loss of the epoch"),
    ({"extra": "train_acc_metric.reset_state(); train_f1score_metric.reset_state()"},
     "reset inside train_data_for_one_epoch"),
    ({"extra": "train_f1score_metric.reset_state()"}, "train_f1score_metric was reset"),
    ({"predictions": "tf.round(logits)", "returned": "losses[::-1]"}, "in order"),
])
def test_epoch_names_the_mistake(kwargs: dict[str, str], message: str) -> None:
    fn, _ = epoch_fn(**kwargs)
    assert_fails("train_data_for_one_epoch_losses_and_metrics", fn, message)


def test_epoch_one_metric_not_updated() -> None:
    code = EPOCH.replace("train_f1score_metric.update_state(y, predictions)", "pass")
    fn = notebook_namespace(code.replace("PREDICTIONS", "tf.round(logits)")
                            .replace("RETURN", "losses").replace("EXTRA", "pass"))
    assert_fails("train_data_for_one_epoch_losses_and_metrics",
                 fn["train_data_for_one_epoch"], "never called train_f1score_metric")


def test_epoch_wrong_batch_to_apply_gradient() -> None:
    code = EPOCH.replace("apply_gradient(optimizer, loss_object, model, x, y)\n        losses",
                         "apply_gradient(optimizer, loss_object, model, first_x, first_y)\n"
                         "        losses")
    code = code.replace("    for step, (x, y) in enumerate(train_dataset):",
                        "    first_x, first_y = next(iter(train_dataset))\n"
                        "    for step, (x, y) in enumerate(train_dataset):")
    fn = notebook_namespace(code.replace("PREDICTIONS", "tf.round(logits)")
                            .replace("RETURN", "losses").replace("EXTRA", "pass"))
    assert_fails("train_data_for_one_epoch_losses_and_metrics",
                 fn["train_data_for_one_epoch"], "pass the batch of this step")


# --------------------------------------------------------------------- perform_validation

VALIDATION_GLOBALS = """
test_dataset = model = loss_object = val_acc_metric = val_f1score_metric = "notebook's"

def perform_validation():
    losses = []
    for x_val, y_val in test_dataset:
        val_logits = model(x_val)
        losses.append(loss_object(y_true=y_val, y_pred=val_logits))
        val_acc_metric.update_state(y_val, PREDICTIONS)
        val_f1score_metric.update_state(y_val, PREDICTIONS)
        EXTRA
    return losses
"""


def validation_fn(predictions: str = "tf.cast(tf.round(model(x_val)), 'int64')",
                  extra: str = "pass") -> tuple[Any, dict]:
    namespace = notebook_namespace(VALIDATION_GLOBALS.replace("PREDICTIONS", predictions)
                                   .replace("EXTRA", extra))
    return namespace["perform_validation"], namespace


@pytest.mark.parametrize("seed", SEEDS)
def test_validation_both_styles_pass(seed: int) -> None:
    fn, namespace = validation_fn()
    result = verdict("perform_validation_losses_and_metrics", fn, seed)
    assert result.passed, result.message
    assert namespace["model"] == "notebook's"  # the observer's objects are gone again
    explicit = reference()["perform_validation"]
    result = verdict("perform_validation_losses_and_metrics", explicit, seed)
    assert result.passed, result.message


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"predictions": "val_logits"}, "tf.round(logits)"),
    ({"extra": "val_acc_metric.reset_state()"}, "val_acc_metric was reset"),
    ({"extra": "model.trainable_weights[0].assign_add(tf.ones_like("
               "model.trainable_weights[0]))"}, "changed the model's weights"),
])
def test_validation_names_the_mistake(kwargs: dict[str, str], message: str) -> None:
    fn, _ = validation_fn(**kwargs)
    assert_fails("perform_validation_losses_and_metrics", fn, message)


# ---------------------------------------------------------------------------- train_model

LOOP = """
def train_data_for_one_epoch(*args, **kwargs):
    raise AssertionError("the observer must replace train_data_for_one_epoch")

def train_model(epochs, train_dataset, test_dataset, model, optimizer, loss_object,
                train_acc_metric, train_f1score_metric, val_acc_metric, val_f1score_metric):
    train_losses, val_losses = [], []
    metrics = [train_acc_metric, train_f1score_metric, val_acc_metric, val_f1score_metric]
    for epoch in range(epochs):
        BEFORE
        lt = train_data_for_one_epoch(train_dataset, optimizer, loss_object, model,
                                      train_acc_metric, train_f1score_metric)
        lv = VALIDATE
        MIDDLE
        print([float(m.result()) for m in metrics])
        train_losses.append(np.mean(lt))
        val_losses.append(np.mean(lv))
        AFTER
    return RETURN
"""
RESET_ALL = "for m in metrics: m.reset_state()"
VALIDATE = ("perform_validation(test_dataset, model, loss_object, val_acc_metric, "
            "val_f1score_metric)")


def loop_fn(before: str = "pass", middle: str = "pass", after: str = RESET_ALL,
            validate: str = VALIDATE, returned: str = "train_losses, val_losses") -> tuple:
    namespace = notebook_namespace(
        LOOP.replace("BEFORE", before).replace("MIDDLE", middle).replace("AFTER", after)
        .replace("VALIDATE", validate).replace("RETURN", returned))
    return namespace["train_model"], namespace


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kwargs", [
    {}, {"before": RESET_ALL, "after": "pass"}, {"validate": "perform_validation()"}])
def test_loop_right_versions_pass(seed: int, kwargs: dict[str, str]) -> None:
    fn, namespace = loop_fn(**kwargs)
    result = verdict("train_model_resets_metrics", fn, seed)
    assert result.passed, result.message
    assert "perform_validation" not in namespace  # the stubs are gone again
    with pytest.raises(AssertionError, match="replace"):
        namespace["train_data_for_one_epoch"]()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"after": "pass"}, "was never reset"),
    ({"after": "for m in metrics[:3]: m.reset_state()"}, "val_f1score_metric was never reset"),
    ({"middle": RESET_ALL, "after": "pass"}, "reset before its result was read"),
    ({"after": "if epoch == 0: [m.reset_state() for m in metrics]"},
     "not reset after every epoch"),
    ({"returned": "val_losses, train_losses"}, "validation losses first"),
    ({"returned": "train_losses[:1], val_losses"}, "one mean per epoch"),
])
def test_loop_names_the_mistake(kwargs: dict[str, str], message: str) -> None:
    fn, _ = loop_fn(**kwargs)
    assert_fails("train_model_resets_metrics", fn, message)


def test_loop_last_loss_instead_of_mean() -> None:
    fn, _ = loop_fn()
    code = LOOP.replace("np.mean(lt)", "lt[-1]").replace("BEFORE", "pass").replace(
        "MIDDLE", "pass").replace("AFTER", RESET_ALL).replace("VALIDATE", VALIDATE).replace(
        "RETURN", "train_losses, val_losses")
    assert_fails("train_model_resets_metrics", notebook_namespace(code)["train_model"],
                 "last batch's loss")


def test_loop_metrics_swapped_between_train_and_validation() -> None:
    fn, _ = loop_fn(validate="perform_validation(test_dataset, model, loss_object, "
                             "train_acc_metric, train_f1score_metric)")
    assert_fails("train_model_resets_metrics", fn, "pass train_model's own arguments")


# ------------------------------------------------------------------------ judge's oracle

EPOCH_ID = "train_data_for_one_epoch_losses_and_metrics"
LOOP_ID = "train_model_resets_metrics"


def test_challenge_files_hold_no_reference_values(tmp_path: Any) -> None:
    """What the kernel can read (the challenge files) holds inputs only: the replayed steps
    and epochs stay with the judge's oracle."""
    import json

    challenges = protocol.make_challenges(ASSIGNMENT, 11)
    protocol.write_challenges(tmp_path, challenges, "n")
    inputs_of = {EPOCH_ID: {"x", "y", "w0", "w1", "w2", "w3"}, LOOP_ID: {"x", "y"}}
    for grade_id, inputs in inputs_of.items():
        ch = challenges[grade_id]
        text = (tmp_path / f"{grade_id}.json").read_text()
        raw = json.loads(text)
        assert set(raw["arrays"]) == inputs, grade_id
        assert ch.private and not set(ch.private) & (set(raw["arrays"]) | set(raw["params"]))
        assert all(f'"{name}"' not in text for name in ch.private), grade_id
    epoch = challenges[EPOCH_ID]
    text = (tmp_path / f"{EPOCH_ID}.json").read_text()
    for k in range(int(epoch.params["n_batches"])):
        assert repr(float(epoch.private[f"loss{k}"]))[:9] not in text
        assert repr(float(epoch.private[f"s{k}_0"].ravel()[0]))[:9] not in text
    loop = challenges[LOOP_ID]
    text = (tmp_path / f"{LOOP_ID}.json").read_text()
    for e in range(int(loop.params["epochs"])):
        for name in (f"tl{e}", f"vl{e}"):
            assert all(repr(float(v))[:9] not in text for v in loop.private[name])


def _epoch_request(ch: Any, k: int, weights: list) -> dict:
    xb, yb = judge.batches_of(ch.arrays["x"], ch.arrays["y"], int(ch.params["batch"]))[k]
    return {"optimizer": True, "loss_object": True, "model": True, "x": xb.tolist(),
            "y": yb.tolist(), "weights": [np.asarray(w).tolist() for w in weights]}


def test_the_epoch_oracle_serves_only_the_next_step() -> None:
    ch = judge.epoch_challenge(np.random.default_rng(3))
    state: dict = {}
    start = judge.net_of(ch)
    first = _epoch_request(ch, 0, start)
    moved = [w + 0.01 for w in start]
    assert judge.epoch_oracle(ch, state, dict(first, weights=[w.tolist() for w in moved]))[
        "ok"] is False  # the model is not where it should be
    assert judge.epoch_oracle(ch, state, _epoch_request(ch, 1, start))["ok"] is False  # batch 1
    assert judge.epoch_oracle(ch, state, dict(first, model=False))["ok"] is False
    assert judge.epoch_oracle(ch, state, dict(first, optimizer=False))["ok"] is False
    reply = judge.epoch_oracle(ch, state, first)
    assert reply["ok"] and state["steps"] == 1
    assert np.allclose(reply["logits"], ch.private["logits0"])
    assert np.isclose(reply["loss"], float(ch.private["loss0"]))
    assert judge.epoch_oracle(ch, state, first)["ok"] is False  # the same step again
    second = _epoch_request(ch, 1, reply["weights"])
    assert judge.epoch_oracle(ch, state, second)["ok"]
    assert state == {"steps": 2, "refused": 5}
    for k in range(2, int(ch.params["n_batches"])):
        assert judge.epoch_oracle(ch, state, _epoch_request(ch, k, judge.step_weights(ch, k - 1)))[
            "ok"]
    last = int(ch.params["n_batches"]) - 1
    assert judge.epoch_oracle(ch, state, _epoch_request(
        ch, last, judge.step_weights(ch, last)))["ok"] is False  # more calls than batches


def test_the_loop_oracle_serves_only_the_next_epoch() -> None:
    ch = judge.loop_challenge(np.random.default_rng(3))
    state: dict = {}
    epochs = int(ch.params["epochs"])
    train = {"tag": "train", "args": list(judge.TRAIN_ARGS)}
    swapped = list(judge.VAL_ARGS[:3]) + ["train_acc_metric", "train_f1score_metric"]
    assert judge.loop_oracle(ch, state, {"tag": "val", "args": swapped})["ok"] is False
    assert judge.loop_oracle(ch, state, {"tag": "train", "args": list(judge.VAL_ARGS)})[
        "ok"] is False
    assert judge.loop_oracle(ch, state, {"tag": "other"})["ok"] is False
    reply = judge.loop_oracle(ch, state, train)
    assert reply["ok"] and np.allclose(reply["losses"], ch.private["tl0"])
    assert np.array_equal(reply["y"][0], ch.private["ty0_0"])
    assert judge.loop_oracle(ch, state, {"tag": "val", "args": [None] * 5})["ok"]  # no-arg style
    for e in range(1, epochs):
        assert np.allclose(judge.loop_oracle(ch, state, train)["losses"], ch.private[f"tl{e}"])
        assert judge.loop_oracle(ch, state, {"tag": "val", "args": list(judge.VAL_ARGS)})["ok"]
    assert judge.loop_oracle(ch, state, train)["ok"] is False  # more calls than epochs
    assert state == {"train_epochs": epochs, "val_epochs": epochs, "train_refused": 2,
                     "val_refused": 1}


def test_epoch_that_moves_the_model_between_steps_is_refused() -> None:
    """The oracle serves a step only on the model where the previous one left it."""
    fn, _ = epoch_fn(extra="model.trainable_weights[0].assign_add("
                           "0.1 * tf.ones_like(model.trainable_weights[0]))")
    assert_fails(EPOCH_ID, fn, "were the epoch's next step")


def _observe_without_oracle(grade_id: str, fn: Any, seed: int = 5) -> tuple[Any, Any]:
    """Observe ``fn`` while the oracle answers nothing (not this cell's), then judge it with
    what was served."""
    from autograder.observe import breast_cancer as observe

    challenges = protocol.make_challenges(ASSIGNMENT, seed)
    with local.exchange(ASSIGNMENT, {grade_id: challenges[grade_id]}, "nonce") as (obs_dir,
                                                                                  oracle):
        oracle.for_cell(None)
        getattr(observe, grade_id)(fn)
        served = oracle.served().get(grade_id)
        data, why = protocol.harvest(obs_dir, grade_id, "nonce")
    assert data is not None, why
    exercise = judge.EXERCISES[grade_id]
    return data, protocol.judge_one(grade_id, exercise, challenges[grade_id], data, 1.0, served)


def test_right_relays_fail_when_nothing_was_served() -> None:
    """Without the oracle's answers the stubs replay nothing (NaN, model left alone) and the
    judge does not pass the cell: the served steps are required."""
    data, result = _observe_without_oracle(EPOCH_ID, epoch_fn()[0])
    assert not result.passed and "0 of the" in result.message, result.message
    assert all(c.get("answered") is False for c in data["calls"])
    data, result = _observe_without_oracle(LOOP_ID, loop_fn()[0])
    assert not result.passed and "0 of the" in result.message, result.message


# ------------------------------------------------------------------------- fail closed


def test_missing_and_malformed_observations_score_zero() -> None:
    challenges = protocol.make_challenges(ASSIGNMENT, seed=7)
    points = dict.fromkeys(CELLS, 2.0)
    verdicts = protocol.judge_all(ASSIGNMENT, challenges, {"executed": list(CELLS)}, points)
    assert [v.score for v in verdicts] == [0.0] * len(CELLS)
    assert all(v.status == "missing" for v in verdicts)
    malformed = [{"cases": "nope"}, {"created": True, "n_variables": 4},
                 {"returned": [1, 2]}, {"returned": {"__type__": "x"}, "calls": 3},
                 {"returned": [], "weights_after": "w"}, {"returned": None, "events": {}}]
    for (grade_id, exercise), data in zip(judge.EXERCISES.items(), malformed, strict=True):
        result = protocol.judge_one(grade_id, exercise, challenges[grade_id], data, 2.0)
        assert result.score == 0.0 and not result.passed, (grade_id, result)


def test_challenges_are_fresh_and_exercises_cover_the_notebook() -> None:
    nb = nbformat.read(source_path(ASSIGNMENT), as_version=4)
    graded = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
              if c.get("metadata", {}).get("nbgrader", {}).get("grade")}
    assert graded == set(judge.EXERCISES) == set(CELLS)
    one, two = (protocol.make_challenges(ASSIGNMENT, seed) for seed in (1, 2))
    for grade_id in CELLS:
        assert one[grade_id].params != two[grade_id].params or any(
            not np.array_equal(one[grade_id].arrays[k], two[grade_id].arrays.get(k))
            for k in one[grade_id].arrays), grade_id


def test_reference_network_gradients_match_finite_differences() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 3))
    y = judge.labels_for(rng, x)
    ws = [w.astype(np.float64) for w in judge.draw_net(rng, 3, 4)]
    grads = judge.gradients(ws, x, y)
    for i, w in enumerate(ws):
        for index in np.ndindex(w.shape):
            plus = [v.copy() for v in ws]
            minus = [v.copy() for v in ws]
            plus[i][index] += 1e-6
            minus[i][index] -= 1e-6
            numeric = (judge.bce(y, judge.forward(plus, x)[0])
                       - judge.bce(y, judge.forward(minus, x)[0])) / 2e-6
            assert abs(numeric - grads[i][index]) < 1e-6


# ---------------------------------------------------------------------- variants in-process


@pytest.mark.parametrize("variant", ALL_VARIANTS, ids=lambda v: v.name)
def test_variant_in_process(variant: variants_mod.Variant) -> None:
    """Every cell observed and judged on the variant's cells in a notebook-like namespace.

    A correct variant passes every cell; a mutant fails exactly the cells it lists (collateral
    points 0), and the first one's message names the mistake.
    """
    namespace = notebook_namespace("\n\n".join(solution_cells(variant).values()))
    results = {grade_id: verdict(grade_id, namespace[name], seed=11)
               for grade_id, name in CELLS.items()}
    failed = {g for g, r in results.items() if not r.passed}
    if variant.is_correct:
        assert not failed, {g: results[g].message for g in failed}
        return
    assert failed == set(variant.fails), {g: results[g].message for g in failed}
    first = results[variant.fails[0]].message
    assert variant.message.lower() in first.lower(), first


def test_variants_cover_the_brief() -> None:
    correct = [v for v in ALL_VARIANTS if v.is_correct]
    mutants = [v for v in ALL_VARIANTS if not v.is_correct]
    assert len(correct) >= 4 and len(mutants) >= 10
    assert {g for v in mutants for g in v.fails} == set(CELLS)
    assert all(v.message for v in mutants)


# ------------------------------------------------------------------ visible tests (Validate)

VISIBLE = [  # variant, the test cell whose visible assert must fail, words of its message
    (None, None, None),
    ("mutant_apply_gradient_loss_after_step", "apply_gradient_updates_weights",
     "before the step"),
    ("mutant_epoch_predictions_after_step", "train_data_for_one_epoch_losses_and_metrics",
     "recomputed after the optimizer step"),
    ("mutant_epoch_reset_every_batch", "train_data_for_one_epoch_losses_and_metrics",
     "reset inside the loop"),
    ("mutant_loop_never_reset", "train_model_resets_metrics", "not reset per epoch"),
    ("mutant_loop_reset_before_reading", "train_model_resets_metrics", "right after a reset"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "cell", "message"), VISIBLE, ids=lambda v: str(v))
def test_visible_tests_name_the_mistake(name: str | None, cell: str | None,
                                        message: str | None) -> None:
    """What a student sees on Validate: the reference raises nothing, each central mistake
    fails its own test cell's visible assert with a message that names it. (Visible tests call
    the student's own functions, so a wrong apply_gradient also shows in the epoch's test; the
    grade does not: the judge stubs it there.)"""
    from autograder.grade.preprocessors import grade_id_of
    from autograder.qa import harness

    nb = nbformat.read(source_path(ASSIGNMENT), as_version=4)
    if name is not None:
        nb = variants_mod.apply(nb, {v.name: v for v in ALL_VARIANTS}[name])
    harness.execute(nb)
    errors = {}
    for c in nb.cells:
        for out in c.get("outputs", []):
            if out.get("output_type") == "error":
                errors[grade_id_of(c) or "a non-test cell"] = f"{out['ename']}: {out['evalue']}"
    if cell is None:
        assert errors == {}
        return
    assert cell in errors, errors
    assert message in errors[cell], errors[cell]


# ------------------------------------------------------------------- tfcourse.breast_cancer


@pytest.fixture
def data_mirror() -> None:
    if not os.environ.get("TFCOURSE_DATA_MIRROR") and not (
            chk_data_dir() / "breast-cancer-wisconsin.data").is_file():
        pytest.fail("set TFCOURSE_DATA_MIRROR to the folder holding the data file")


def chk_data_dir() -> Any:
    from tfcourse import data

    return data.data_dir()


def test_load_raw_is_the_uncleaned_file(data_mirror: None) -> None:
    from tfcourse import breast_cancer as cancer

    df = cancer.load_raw()
    assert list(df.columns) == cancer.COLUMNS
    assert df.shape == (699, 11)
    assert int((df["bare_nuclei"] == "?").sum()) == 16
    assert sorted(df["class"].unique()) == [2, 4]


def test_plots_draw_what_they_say() -> None:
    """The helpers return None (tests/test_plots.py); their charts are read back from pyplot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tfcourse import breast_cancer as cancer

    cancer.plot_confusion_matrix(np.array([[0], [1], [1]]), np.array([0.0, 1.0, 0.0]),
                                 title="T")
    ax = plt.gca()
    assert ax.get_title() == "T"
    assert [t.get_text() for t in ax.texts] == ["1", "0", "1", "1"]  # rows: true class
    cancer.plot_loss_curves([0.7, 0.5], [0.6, 0.4])
    assert plt.gca().get_lines()[0].get_ydata()[1] == 0.5
    cancer.plot_class_histogram([2, 2, 4])
    assert plt.gca().patches[0].get_height() == 2
    plt.close("all")
