"""Tests of the fashion_mnist notebook's observers and judge, plot helpers and answer variants.

The fast tests run each grade cell's observer in-process on small Python implementations and
judge what it recorded (:func:`autograder.judge.local.run`): right implementations pass with
several seeds, each typical mistake fails with a message naming it, a mistake in a building
block costs nothing in the exercises built on it, a missing or malformed observation scores 0.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import matplotlib

matplotlib.use("Agg")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from autograder.judge import fashion_mnist as judge  # noqa: E402
from autograder.judge import local, protocol  # noqa: E402
from autograder.judge.core import Challenge  # noqa: E402
from autograder.qa import variants  # noqa: E402

ASSIGNMENT = "fashion_mnist"
SEEDS = (3, 17, 2024)
GRADE_IDS = ("apply_gradient_updates_weights", "train_data_for_one_epoch_losses",
             "perform_validation_does_not_train", "fit_custom_resets_metrics",
             "train_step_matches_reference")


def run(grade_id: str, fn, seed: int = 11):
    return local.run(ASSIGNMENT, grade_id, fn, seed=seed)


def failure(grade_id: str, fn, seed: int = 11) -> str:
    verdict = run(grade_id, fn, seed)
    assert not verdict.passed, f"{fn.__name__} passed {grade_id}"
    assert verdict.score == 0
    return verdict.message


# ----------------------------------------------------------------------------- reference answers
def apply_gradient(optimizer, loss_object, model, x, y):
    with tf.GradientTape() as tape:
        predictions = model(x, training=True)
        loss_value = loss_object(y_true=y, y_pred=predictions)
    gradients = tape.gradient(loss_value, model.trainable_weights)
    optimizer.apply_gradients(zip(gradients, model.trainable_weights, strict=True))
    return predictions, loss_value


def train_data_for_one_epoch(train_ds, optimizer, loss_object, model, train_acc_metric,
                             verbose=True):
    losses = []
    for x_batch, y_batch in train_ds:
        predictions, loss_value = apply_gradient(optimizer, loss_object, model, x_batch, y_batch)
        losses.append(float(loss_value))
        train_acc_metric.update_state(y_batch, predictions)
    return losses


def perform_validation(test_ds, model, loss_object, val_acc_metric):
    losses = []
    for x_val, y_val in test_ds:
        predictions = model(x_val, training=False)
        losses.append(float(loss_object(y_val, predictions)))
        val_acc_metric.update_state(y_val, predictions)
    return losses


def make_fit_custom(resets=("train", "val"), when="end", validation_args="new"):
    """The epoch loop; ``resets`` names the metrics it resets, ``when`` where: end (after
    reading), start (of each epoch), before_read (a mistake)."""

    def fit_custom(model, optimizer, loss_object, train_ds, test_ds, train_acc_metric,
                   val_acc_metric, epochs):
        history = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
        metrics = {"train": train_acc_metric, "val": val_acc_metric}

        def reset():
            for name in resets:
                metrics[name].reset_state()

        for _ in range(epochs):
            if when == "start":
                reset()
            losses = train_data_for_one_epoch(train_ds, optimizer, loss_object, model,
                                              train_acc_metric)
            if validation_args == "new":
                val_losses = perform_validation(test_ds, model, loss_object, val_acc_metric)
            else:
                val_losses = perform_validation(test_ds, loss_object, model, val_acc_metric)
            if when == "before_read":
                reset()
            history["loss"].append(float(np.mean(losses)))
            history["val_loss"].append(float(np.mean(val_losses)))
            history["accuracy"].append(float(train_acc_metric.result()))
            history["val_accuracy"].append(float(val_acc_metric.result()))
            if when == "end":
                reset()
        return history

    return fit_custom


fit_custom = make_fit_custom()


class CustomModel(keras.Model):
    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred)
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables, strict=True))
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


REFERENCE = {
    "apply_gradient_updates_weights": apply_gradient,
    "train_data_for_one_epoch_losses": train_data_for_one_epoch,
    "perform_validation_does_not_train": perform_validation,
    "fit_custom_resets_metrics": fit_custom,
    "train_step_matches_reference": CustomModel,
}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("grade_id", GRADE_IDS)
def test_right_answers_pass(grade_id, seed):
    verdict = run(grade_id, REFERENCE[grade_id], seed)
    assert verdict.passed, verdict.message
    assert verdict.score == verdict.max_score


def test_every_grade_cell_has_an_exercise_and_an_observer():
    from autograder.observe import fashion_mnist as observers

    assert sorted(judge.EXERCISES) == sorted(GRADE_IDS)
    assert all(callable(getattr(observers, grade_id)) for grade_id in GRADE_IDS)


def test_challenges_are_fresh_for_each_grading_run():
    one, two = (protocol.make_challenges(ASSIGNMENT, seed) for seed in (1, 2))
    for grade_id in GRADE_IDS:
        assert not np.array_equal(one[grade_id].arrays["W0"], two[grade_id].arrays["W0"])
    assert one["apply_gradient_updates_weights"].params != \
        two["apply_gradient_updates_weights"].params


# ----------------------------------------------------------------------------- numpy reference
def test_challenge_files_hold_inputs_only():
    """Replayed values (predictions, losses, weights after a step) reach the kernel only
    through the oracle, one step at a time, never in the challenge file."""
    challenges = protocol.make_challenges(ASSIGNMENT, 9)
    for grade_id in ("train_data_for_one_epoch_losses", "fit_custom_resets_metrics"):
        ch = challenges[grade_id]
        assert ch.private and not set(ch.private) & set(ch.arrays)
        assert not any(k.startswith(("probs", "after", "train_p", "val_p", "losses"))
                       for k in ch.arrays)


def test_one_epoch_oracle_refuses_the_wrong_batch_and_the_wrong_model():
    ch = judge.train_epoch_challenge(np.random.default_rng(4))
    size = int(ch["batch_size"])
    start = [w.tolist() for w in judge.params_of(ch)]
    first = {"x": ch.arrays["x"][:size].tolist(), "y": ch.arrays["y"][:size].tolist()}
    second = {"x": ch.arrays["x"][size:2 * size].tolist(),
              "y": ch.arrays["y"][size:2 * size].tolist()}
    state: dict = {}
    assert not judge.train_epoch_oracle(ch, state, {**second, "weights": start})["ok"]
    assert judge.train_epoch_oracle(ch, state, {**first, "weights": start})["ok"]
    assert not judge.train_epoch_oracle(ch, state, {**second, "weights": start})["ok"]
    assert state == {"steps": 1, "refused": 2}


def test_numpy_reference_matches_keras_and_a_fresh_tape():
    ch = judge.apply_gradient_challenge(np.random.default_rng(5))
    from autograder.observe.fashion_mnist import build_model

    model = build_model(ch)
    x, y = ch.arrays["x"].astype(np.float32), ch.arrays["y"]
    with tf.GradientTape() as tape:
        probs = model(x, training=True)
        loss = keras.losses.SparseCategoricalCrossentropy()(y, probs)
    grads = tape.gradient(loss, model.trainable_weights)
    params = judge.params_of(ch)
    _, ref_probs = judge.forward(params, x)
    np.testing.assert_allclose(probs.numpy(), ref_probs, rtol=1e-5, atol=1e-6)
    assert np.isclose(float(loss), judge.cross_entropy(ref_probs, y), rtol=1e-5)
    for got, want in zip(grads, judge.gradients(params, x, y), strict=True):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-6)


def test_numpy_gradients_match_finite_differences():
    ch = judge.apply_gradient_challenge(np.random.default_rng(8))
    params, x, y = judge.params_of(ch), ch.arrays["x"], ch.arrays["y"]
    grads = judge.gradients(params, x, y)
    for i in (0, 3, 5):
        index = tuple(0 for _ in params[i].shape)
        bumped = [p.copy() for p in params]
        bumped[i][index] += 1e-6
        lowered = [p.copy() for p in params]
        lowered[i][index] -= 1e-6
        numeric = (judge.cross_entropy(judge.forward(bumped, x)[1], y)
                   - judge.cross_entropy(judge.forward(lowered, x)[1], y)) / 2e-6
        assert np.isclose(grads[i][index], numeric, rtol=1e-4, atol=1e-8)


# ----------------------------------------------------------------------------- apply_gradient
def ag_no_training_flag(optimizer, loss_object, model, x, y):
    with tf.GradientTape() as tape:
        predictions = model(x)
        loss_value = loss_object(y, predictions)
    variables = model.trainable_variables
    optimizer.apply(tape.gradient(loss_value, variables), variables)
    return predictions, loss_value


def ag_subset(optimizer, loss_object, model, x, y):
    with tf.GradientTape() as tape:
        predictions = model(x, training=True)
        loss_value = loss_object(y, predictions)
    last = model.trainable_weights[-2:]
    optimizer.apply_gradients(zip(tape.gradient(loss_value, last), last, strict=True))
    return predictions, loss_value


def ag_no_step(optimizer, loss_object, model, x, y):
    with tf.GradientTape() as tape:
        predictions = model(x, training=True)
        loss_value = loss_object(y, predictions)
    tape.gradient(loss_value, model.trainable_weights)
    return predictions, loss_value


def ag_tape_outside(optimizer, loss_object, model, x, y):
    predictions = model(x, training=True)
    with tf.GradientTape() as tape:
        loss_value = loss_object(y, predictions)
    gradients = tape.gradient(loss_value, model.trainable_weights)
    optimizer.apply_gradients(zip(gradients, model.trainable_weights, strict=True))
    return predictions, loss_value


def ag_swapped(optimizer, loss_object, model, x, y):
    with tf.GradientTape() as tape:
        predictions = model(x, training=True)
        loss_value = loss_object(predictions, y)
    gradients = tape.gradient(loss_value, model.trainable_weights)
    optimizer.apply_gradients(zip(gradients, model.trainable_weights, strict=True))
    return predictions, loss_value


def ag_loss_after_step(optimizer, loss_object, model, x, y):
    predictions, _ = apply_gradient(optimizer, loss_object, model, x, y)
    return predictions, loss_object(y, model(x, training=True))


def ag_predictions_after_step(optimizer, loss_object, model, x, y):
    _, loss_value = apply_gradient(optimizer, loss_object, model, x, y)
    return model(x, training=True), loss_value


def ag_double_step(optimizer, loss_object, model, x, y):
    apply_gradient(optimizer, loss_object, model, x, y)
    return apply_gradient(optimizer, loss_object, model, x, y)


def ag_ascent(optimizer, loss_object, model, x, y):
    with tf.GradientTape() as tape:
        predictions = model(x, training=True)
        loss_value = -loss_object(y, predictions)
    gradients = tape.gradient(loss_value, model.trainable_weights)
    optimizer.apply_gradients(zip(gradients, model.trainable_weights, strict=True))
    return predictions, -loss_value


def ag_return_swapped(optimizer, loss_object, model, x, y):
    predictions, loss_value = apply_gradient(optimizer, loss_object, model, x, y)
    return loss_value, predictions


def ag_stub(optimizer, loss_object, model, x, y):
    raise NotImplementedError()


def test_apply_gradient_accepts_model_without_training_flag_and_optimizer_apply():
    for seed in SEEDS:
        verdict = run("apply_gradient_updates_weights", ag_no_training_flag, seed)
        assert verdict.passed, verdict.message


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (ag_subset, "subset of the weights"),
        (ag_no_step, "no apply_gradients"),
        (ag_tape_outside, "gradients are None"),
        (ag_swapped, "loss arguments swapped"),
        (ag_loss_after_step, "loss computed after the optimizer step"),
        (ag_predictions_after_step, "predictions computed after the optimizer step"),
        (ag_double_step, "called the optimizer 2 times"),
        (ag_ascent, "wrong sign"),
        (ag_return_swapped, "return values swapped"),
        (ag_stub, "still the stub"),
    ],
)
def test_apply_gradient_mistakes_are_named(wrong, message):
    text = failure("apply_gradient_updates_weights", wrong)
    assert message in text
    assert "expected" in text and "Likely mistake" in text


# ----------------------------------------------------------------------------- one epoch
def epoch_reset_every_batch(train_ds, optimizer, loss_object, model, train_acc_metric,
                            verbose=True):
    losses = []
    for x, y in train_ds:
        train_acc_metric.reset_state()
        predictions, loss_value = apply_gradient(optimizer, loss_object, model, x, y)
        losses.append(float(loss_value))
        train_acc_metric.update_state(y, predictions)
    return losses


def epoch_reset_at_start(train_ds, optimizer, loss_object, model, train_acc_metric,
                         verbose=True):
    train_acc_metric.reset_state()
    return train_data_for_one_epoch(train_ds, optimizer, loss_object, model, train_acc_metric)


def epoch_last_dropped(train_ds, optimizer, loss_object, model, train_acc_metric, verbose=True):
    return train_data_for_one_epoch(train_ds, optimizer, loss_object, model,
                                    train_acc_metric)[:-1]


def epoch_metric_untouched(train_ds, optimizer, loss_object, model, train_acc_metric,
                           verbose=True):
    return [float(apply_gradient(optimizer, loss_object, model, x, y)[1]) for x, y in train_ds]


def epoch_predictions_after_step(train_ds, optimizer, loss_object, model, train_acc_metric,
                                 verbose=True):
    losses = []
    for x, y in train_ds:
        _, loss_value = apply_gradient(optimizer, loss_object, model, x, y)
        losses.append(float(loss_value))
        train_acc_metric.update_state(y, model(x, training=False))
    return losses


def epoch_running_mean(train_ds, optimizer, loss_object, model, train_acc_metric, verbose=True):
    losses, total = [], 0.0
    for step, (x, y) in enumerate(train_ds):
        predictions, loss_value = apply_gradient(optimizer, loss_object, model, x, y)
        total += float(loss_value)
        losses.append(total / (step + 1))
        train_acc_metric.update_state(y, predictions)
    return losses


_GLOBAL_OPTIMIZER = object()


def epoch_global_optimizer(train_ds, optimizer, loss_object, model, train_acc_metric,
                           verbose=True):
    losses = []
    for x, y in train_ds:
        predictions, loss_value = apply_gradient(_GLOBAL_OPTIMIZER, loss_object, model, x, y)
        losses.append(float(loss_value))
        train_acc_metric.update_state(y, predictions)
    return losses


def test_one_epoch_accepts_a_reset_before_the_loop():
    verdict = run("train_data_for_one_epoch_losses", epoch_reset_at_start)
    assert verdict.passed, verdict.message


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (epoch_reset_every_batch, "reset inside the loop"),
        (epoch_last_dropped, "one per batch"),
        (epoch_metric_untouched, "update_state"),
        (epoch_predictions_after_step, "predictions computed after the optimizer step"),
        (epoch_running_mean, "not the running mean"),
        (epoch_global_optimizer, "own optimizer"),
    ],
)
def test_one_epoch_mistakes_are_named(wrong, message):
    assert message in failure("train_data_for_one_epoch_losses", wrong)


def test_one_epoch_does_not_pay_for_a_broken_apply_gradient():
    """apply_gradient is replayed: this module's global apply_gradient is not called."""
    global apply_gradient
    right = apply_gradient
    apply_gradient = ag_tape_outside
    try:
        verdict = run("train_data_for_one_epoch_losses", train_data_for_one_epoch)
    finally:
        apply_gradient = right
    assert verdict.passed, verdict.message


# ----------------------------------------------------------------------------- validation
def val_trains(test_ds, model, loss_object, val_acc_metric):
    optimizer = keras.optimizers.SGD(0.1)
    losses = []
    for x, y in test_ds:
        predictions, loss_value = apply_gradient(optimizer, loss_object, model, x, y)
        losses.append(float(loss_value))
        val_acc_metric.update_state(y, predictions)
    return losses


def val_training_mode(test_ds, model, loss_object, val_acc_metric):
    losses = []
    for x, y in test_ds:
        predictions = model(x, training=True)
        losses.append(loss_object(y, predictions))
        val_acc_metric(y, predictions)
    return losses


def val_no_metric(test_ds, model, loss_object, val_acc_metric):
    return [float(loss_object(y, model(x))) for x, y in test_ds]


def val_reset_every_batch(test_ds, model, loss_object, val_acc_metric):
    losses = []
    for x, y in test_ds:
        val_acc_metric.reset_state()
        predictions = model(x)
        losses.append(float(loss_object(y, predictions)))
        val_acc_metric.update_state(y, predictions)
    return losses


def val_old_order(test_ds, loss_object, model, val_acc_metric):
    return perform_validation(test_ds, model, loss_object, val_acc_metric)


def test_validation_accepts_training_flag_and_metric_call():
    verdict = run("perform_validation_does_not_train", val_training_mode)
    assert verdict.passed, verdict.message


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (val_trains, "validation trains the model"),
        (val_no_metric, "val_acc_metric.update_state"),
        (val_reset_every_batch, "reset inside the loop"),
        (val_old_order, "parameters in the old order"),
    ],
)
def test_validation_mistakes_are_named(wrong, message):
    assert message in failure("perform_validation_does_not_train", wrong)


# ----------------------------------------------------------------------------- epoch loop
def test_loop_accepts_resets_at_the_start_of_each_epoch():
    verdict = run("fit_custom_resets_metrics", make_fit_custom(when="start"))
    assert verdict.passed, verdict.message


def loop_global_epochs(model, optimizer, loss_object, train_ds, test_ds, train_acc_metric,
                       val_acc_metric, epochs):
    return fit_custom(model, optimizer, loss_object, train_ds, test_ds, train_acc_metric,
                      val_acc_metric, 2)


def loop_no_history(model, optimizer, loss_object, train_ds, test_ds, train_acc_metric,
                    val_acc_metric, epochs):
    fit_custom(model, optimizer, loss_object, train_ds, test_ds, train_acc_metric,
               val_acc_metric, epochs)


def loop_sum_loss(model, optimizer, loss_object, train_ds, test_ds, train_acc_metric,
                  val_acc_metric, epochs):
    history = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
    for _ in range(epochs):
        losses = train_data_for_one_epoch(train_ds, optimizer, loss_object, model,
                                          train_acc_metric)
        val_losses = perform_validation(test_ds, model, loss_object, val_acc_metric)
        history["loss"].append(float(np.sum(losses)))
        history["val_loss"].append(float(np.mean(val_losses)))
        history["accuracy"].append(float(train_acc_metric.result()))
        history["val_accuracy"].append(float(val_acc_metric.result()))
        train_acc_metric.reset_state()
        val_acc_metric.reset_state()
    return history


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (make_fit_custom(resets=()), "metric never reset"),
        (make_fit_custom(when="before_read"), "reset before its result was read"),
        (make_fit_custom(resets=("train",)), "val_acc_metric"),
        (make_fit_custom(resets=("val",)), "train_acc_metric"),
        (make_fit_custom(validation_args="old"), "in this order"),
        (loop_global_epochs, "not a global EPOCHS"),
        (loop_no_history, "a dict with keys"),
        (loop_sum_loss, "sum instead of mean"),
    ],
)
def test_loop_mistakes_are_named(wrong, message):
    text = failure("fit_custom_resets_metrics", wrong)
    assert message in text


def test_loop_only_one_metric_reset_names_that_metric():
    assert "metric never reset: call `val_acc_metric.reset_state()`" in failure(
        "fit_custom_resets_metrics", make_fit_custom(resets=("train",)))


def test_loop_does_not_pay_for_broken_building_blocks():
    """Both building blocks are replayed: wrong ones in this module's globals cost nothing."""
    global train_data_for_one_epoch, perform_validation
    right = train_data_for_one_epoch, perform_validation
    train_data_for_one_epoch, perform_validation = epoch_reset_every_batch, val_trains
    try:
        verdict = run("fit_custom_resets_metrics", fit_custom)
    finally:
        train_data_for_one_epoch, perform_validation = right
    assert verdict.passed, verdict.message


def test_loop_replays_epochs_whose_accuracies_differ():
    """Per-epoch and cumulative accuracy differ from epoch 2 on, for every seed tried."""
    for seed in range(10):
        ch = judge.loop_challenge(np.random.default_rng(seed))
        for tag in ("train", "val"):
            per, cumulative = judge._loop_expectations(ch, tag)
            assert all(not np.isclose(p, c) for p, c in zip(per[1:], cumulative[1:], strict=True))
            assert all(p > 0 for p in per)


# ----------------------------------------------------------------------------- train_step
class SkipsOptimizer(keras.Model):
    def train_step(self, data):
        x, y = data
        y_pred = self(x, training=True)
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred)
        for m in self.metrics:
            m.update_state(loss) if m.name == "loss" else m.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


class Stale(keras.Model):
    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables, strict=True))
        logs = {m.name: m.result() for m in self.metrics}
        for m in self.metrics:
            m.update_state(loss) if m.name == "loss" else m.update_state(y, y_pred)
        return logs


class OnlyLoss(CustomModel):
    def train_step(self, data):
        return {"loss": super().train_step(data)["loss"]}


class Subset(keras.Model):
    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred)
        last = self.trainable_variables[-2:]
        self.optimizer.apply_gradients(zip(tape.gradient(loss, last), last, strict=True))
        for m in self.metrics:
            m.update_state(loss) if m.name == "loss" else m.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


class NoFlagUnpack(keras.Model):
    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            y_pred = self(x)
            loss = self.compute_loss(x, y, y_pred, sample_weight)
        self.optimizer.apply(tape.gradient(loss, self.trainable_variables),
                             self.trainable_variables)
        loss_tracker, *others = self.metrics
        loss_tracker.update_state(loss)
        for metric in others:
            metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def test_train_step_accepts_model_without_training_flag():
    verdict = run("train_step_matches_reference", NoFlagUnpack)
    assert verdict.passed, verdict.message


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (SkipsOptimizer, "skips the optimizer"),
        (Stale, "stale metrics"),
        (OnlyLoss, "every compiled metric"),
        (Subset, "subset of the weights"),
    ],
)
def test_train_step_mistakes_are_named(wrong, message):
    assert message in failure("train_step_matches_reference", wrong)


# ----------------------------------------------------------------------------- fail closed
def test_missing_and_malformed_observations_score_zero():
    challenges = protocol.make_challenges(ASSIGNMENT, 5)
    points = {grade_id: 3.0 for grade_id in GRADE_IDS}
    verdicts = protocol.judge_all(ASSIGNMENT, challenges, {"executed": list(GRADE_IDS)}, points)
    assert [v.score for v in verdicts] == [0.0] * len(GRADE_IDS)
    assert all(v.status == "missing" for v in verdicts)
    for data in ({}, {"returned": {"__nd__": "nonsense"}, "weights": 3},
                 {"returned": [1, 2], "weights": [[1]] * 6, "applied": "x"},
                 {"returned": {"loss": [1.0]}, "weights": None, "train_calls": [7]}):
        for grade_id in GRADE_IDS:
            exercise = judge.EXERCISES[grade_id]
            verdict = protocol.judge_one(grade_id, exercise, challenges[grade_id], data, 3.0)
            assert verdict.score == 0.0 and verdict.message, (grade_id, data)


def test_a_judge_never_trusts_the_kernel_for_its_reference():
    """The expected values come from the challenge: changing a reported 'before' or feeding
    the reference's numbers from another run does not pass."""
    ch_a = judge.apply_gradient_challenge(np.random.default_rng(1))
    ch_b = judge.apply_gradient_challenge(np.random.default_rng(2))
    probs, loss, after = judge.sgd_step(judge.params_of(ch_a), ch_a.arrays["x"],
                                        ch_a.arrays["y"], float(ch_a["lr"]))
    data = {"returned": [probs.tolist(), loss], "weights": [w.tolist() for w in after],
            "applied": [{"n": 6, "none": 0}], "loss_calls": []}
    exercise = judge.EXERCISES["apply_gradient_updates_weights"]
    assert protocol.judge_one("a", exercise, ch_a, data, 1.0).passed
    assert not protocol.judge_one("a", exercise, ch_b, data, 1.0).passed
    assert isinstance(ch_a, Challenge)


# ----------------------------------------------------------------------------- variants
def test_variants_are_well_formed():
    found = variants.discover(ASSIGNMENT)
    assert sum(v.is_correct for v in found) >= 5
    for variant in found:
        if not variant.is_correct:
            assert variant.message, f"{variant.name} declares no '# message:'"
            assert set(variant.fails) <= set(GRADE_IDS), variant.name


# ----------------------------------------------------------------------------- plot helpers
def test_plots_draw_and_mark_wrong_predictions_red():
    import matplotlib.pyplot as plt

    from tfcourse import fashion_mnist as fashion
    from tfcourse.fashion_mnist import CLASS_NAMES

    fashion.plot_loss_curves({"loss": [2.0, 1.5, 1.2], "val_loss": [2.1, 1.7, 1.6]})
    fig = plt.gcf()
    assert [len(line.get_xdata()) for line in fig.axes[0].get_lines()] == [3, 3]
    images = np.random.default_rng(0).random((5, 784))
    labels = np.array([0, 1, 2, 3, 4])
    probs = np.eye(10)[[0, 1, 9, 3, 9]]
    fashion.plot_predictions(images, labels, probs, CLASS_NAMES, columns=3)
    fig = plt.gcf()
    colours = [ax.title.get_color() for ax in fig.axes if ax.get_title()]
    assert colours == ["black", "black", "red", "black", "red"]
    assert "2 of 5 wrong" in fig._suptitle.get_text()
    plt.close("all")
