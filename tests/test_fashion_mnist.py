"""Tests of the fashion_mnist notebook's hidden checks, plot helpers and answer variants.

(a) fast, in-process: each check passes a correct implementation and fails small wrong ones
    with a message naming the mistake;
(b) slow: every variant in examples/variants/fashion_mnist graded in a fresh kernel.
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

from autograder.checks import fashion_mnist as chk  # noqa: E402
from autograder.checks._common import CheckFailure  # noqa: E402

# ----------------------------------------------------------------------------- reference answers


def apply_gradient(optimizer, loss_object, model, x, y):
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss_value = loss_object(y, logits)
    grads = tape.gradient(loss_value, model.trainable_weights)
    optimizer.apply_gradients(zip(grads, model.trainable_weights, strict=True))
    return logits, loss_value


def train_data_for_one_epoch(train_ds, optimizer, loss_object, model, metric, verbose=True):
    losses = []
    for x, y in train_ds:
        logits, loss_value = apply_gradient(optimizer, loss_object, model, x, y)
        losses.append(float(loss_value))
        metric.update_state(y, logits)
    return losses


def perform_validation(test_ds, loss_object, model, metric):
    losses = []
    for x, y in test_ds:
        logits = model(x, training=False)
        losses.append(float(loss_object(y, logits)))
        metric.update_state(y, logits)
    return losses


def make_fit_custom(resets=("train", "val"), reset_first=False):
    """The epoch loop; ``resets`` names the metrics it resets, ``reset_first`` breaks the order."""

    def fit_custom(model, optimizer, loss_object, train_ds, test_ds, train_m, val_m, epochs):
        history = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
        metrics = {"train": train_m, "val": val_m}
        for _ in range(epochs):
            loss = np.mean(train_data_for_one_epoch(train_ds, optimizer, loss_object, model,
                                                    train_m))
            val_loss = np.mean(perform_validation(test_ds, loss_object, model, val_m))
            if reset_first:
                for name in resets:
                    metrics[name].reset_state()
            history["loss"].append(loss)
            history["val_loss"].append(val_loss)
            history["accuracy"].append(float(train_m.result()))
            history["val_accuracy"].append(float(val_m.result()))
            if not reset_first:
                for name in resets:
                    metrics[name].reset_state()
        return history

    return fit_custom


class GoodModel(keras.Model):
    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables, strict=True))
        for m in self.metrics:
            if m.name == "loss":
                m.update_state(loss)
            else:
                m.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def failure(check, *args) -> str:
    with pytest.raises(CheckFailure) as info:
        check(*args)
    return str(info.value)


# ----------------------------------------------------------------------------- apply_gradient


def test_apply_gradient_correct_passes():
    chk.check_apply_gradient(apply_gradient)


def test_apply_gradient_works_with_sgd_too():
    """The reference is generic: the check's own optimizer decides the step."""
    model = chk._model(1)
    twin = chk._copy(model, 1)
    x, y = chk._data(1, 8)
    apply_gradient(keras.optimizers.SGD(0.1), chk._loss(), model, x, y)
    with tf.GradientTape() as tape:
        loss = chk._loss()(y, twin(x, training=True))
    grads = tape.gradient(loss, twin.trainable_weights)
    for v, g in zip(twin.trainable_weights, grads, strict=True):
        v.assign_sub(0.1 * g)
    chk._compare_weights(model, twin, "sgd")


def _subset(optimizer, loss_object, model, x, y):
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss_value = loss_object(y, logits)
    last = model.trainable_weights[-2:]
    optimizer.apply_gradients(zip(tape.gradient(loss_value, last), last, strict=True))
    return logits, loss_value


def _no_step(optimizer, loss_object, model, x, y):
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss_value = loss_object(y, logits)
    tape.gradient(loss_value, model.trainable_weights)
    return logits, loss_value


def _tape_outside(optimizer, loss_object, model, x, y):
    logits = model(x, training=True)
    with tf.GradientTape() as tape:
        loss_value = loss_object(y, logits)
    grads = tape.gradient(loss_value, model.trainable_weights)
    optimizer.apply_gradients(zip(grads, model.trainable_weights, strict=True))
    return logits, loss_value


def _swapped(optimizer, loss_object, model, x, y):
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss_value = loss_object(logits, y)
    grads = tape.gradient(loss_value, model.trainable_weights)
    optimizer.apply_gradients(zip(grads, model.trainable_weights, strict=True))
    return logits, loss_value


def _inference_mode(optimizer, loss_object, model, x, y):
    with tf.GradientTape() as tape:
        logits = model(x)
        loss_value = loss_object(y, logits)
    grads = tape.gradient(loss_value, model.trainable_weights)
    optimizer.apply_gradients(zip(grads, model.trainable_weights, strict=True))
    return logits, loss_value


def _loss_after_update(optimizer, loss_object, model, x, y):
    logits, _ = apply_gradient(optimizer, loss_object, model, x, y)
    return logits, loss_object(y, model(x, training=True))


def _double_step(optimizer, loss_object, model, x, y):
    apply_gradient(optimizer, loss_object, model, x, y)
    return apply_gradient(optimizer, loss_object, model, x, y)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_subset, "subset of the weights"),
        (_no_step, "no apply_gradients"),
        (_tape_outside, "gradients are None"),
        (_swapped, "loss arguments swapped"),
        (_inference_mode, "training flag"),
        (_loss_after_update, "returned loss"),
        (_double_step, "logits"),
    ],
)
def test_apply_gradient_mistakes_are_named(wrong, message):
    text = failure(chk.check_apply_gradient, wrong)
    assert message in text
    assert "expected" in text and "Likely mistake" in text


# ----------------------------------------------------------------------------- one epoch


def test_train_data_for_one_epoch_correct_passes():
    chk.check_train_data_for_one_epoch(train_data_for_one_epoch)


def test_train_data_for_one_epoch_mistakes_are_named():
    def last_batch_dropped(train_ds, optimizer, loss_object, model, metric, verbose=True):
        return train_data_for_one_epoch(train_ds, optimizer, loss_object, model, metric)[:-1]

    def reset_every_batch(train_ds, optimizer, loss_object, model, metric, verbose=True):
        losses = []
        for x, y in train_ds:
            metric.reset_state()
            logits, loss_value = apply_gradient(optimizer, loss_object, model, x, y)
            losses.append(float(loss_value))
            metric.update_state(y, logits)
        return losses

    def metric_untouched(train_ds, optimizer, loss_object, model, metric, verbose=True):
        return [float(apply_gradient(optimizer, loss_object, model, x, y)[1])
                for x, y in train_ds]

    assert "one per batch" in failure(chk.check_train_data_for_one_epoch, last_batch_dropped)
    assert "reset inside the loop" in failure(chk.check_train_data_for_one_epoch,
                                              reset_every_batch)
    assert "update_state" in failure(chk.check_train_data_for_one_epoch, metric_untouched)


# ----------------------------------------------------------------------------- validation


def test_perform_validation_correct_passes():
    chk.check_perform_validation(perform_validation)


def test_perform_validation_mistakes_are_named():
    def trains(test_ds, loss_object, model, metric):
        optimizer = keras.optimizers.Adam()
        losses = []
        for x, y in test_ds:
            logits, loss_value = apply_gradient(optimizer, loss_object, model, x, y)
            losses.append(float(loss_value))
            metric.update_state(y, logits)
        return losses

    def training_mode(test_ds, loss_object, model, metric):
        losses = []
        for x, y in test_ds:
            logits = model(x, training=True)
            losses.append(float(loss_object(y, logits)))
            metric.update_state(y, logits)
        return losses

    def no_metric(test_ds, loss_object, model, metric):
        return [float(loss_object(y, model(x))) for x, y in test_ds]

    assert "validation trains the model" in failure(chk.check_perform_validation, trains)
    assert "training=True" in failure(chk.check_perform_validation, training_mode)
    assert "val_acc_metric" in failure(chk.check_perform_validation, no_metric)


# ----------------------------------------------------------------------------- epoch loop


def test_fit_custom_correct_passes():
    chk.check_fit_custom(make_fit_custom())


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (make_fit_custom(resets=()), "metric never reset"),
        (make_fit_custom(reset_first=True), "reset before its result was read"),
        (make_fit_custom(resets=("train",)), "val_acc_metric"),
        (make_fit_custom(resets=("val",)), "train_acc_metric"),
    ],
)
def test_fit_custom_reset_mistakes_are_named(wrong, message):
    assert message in failure(chk.check_fit_custom, wrong)


def test_fit_custom_needs_history_keys():
    def no_history(*args):
        make_fit_custom()(*args)

    assert "a dict with keys" in failure(chk.check_fit_custom, no_history)


def test_fit_custom_epoch_values_really_differ():
    """The check's data makes per-epoch and cumulative accuracy differ (not only the log)."""
    events: list = []
    train_m = chk._instrumented_accuracy("train", events)
    val_m = chk._instrumented_accuracy("val", events)
    x, y = chk._data(17, 48)
    xv, yv = chk._data(18, 32)
    make_fit_custom()(chk._model(17), chk._adam(), chk._loss(), chk._dataset(x, y, 16),
                      chk._dataset(xv, yv, 16), train_m, val_m, 2)
    per, cumulative, _ = chk._epoch_expectations(events, "train", 3, 2, "train_acc_metric")
    assert not np.isclose(per[1], cumulative[1])


# ----------------------------------------------------------------------------- train_step


def test_train_step_correct_passes():
    chk.check_train_step(GoodModel)


def test_train_step_mistakes_are_named():
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
            return {m.name: m.result() for m in self.metrics}

    class OnlyLoss(GoodModel):
        def train_step(self, data):
            logs = super().train_step(data)
            return {"loss": logs["loss"]}

    assert "skips the optimizer" in failure(chk.check_train_step, SkipsOptimizer)
    assert "stale metrics" in failure(chk.check_train_step, Stale)
    assert "every compiled metric" in failure(chk.check_train_step, OnlyLoss)


# ----------------------------------------------------------------------------- plot helpers


def test_plots_draw_and_mark_wrong_predictions_red():
    from tfcourse import fashion
    from tfcourse.fashion_mnist import CLASS_NAMES

    fig = fashion.plot_loss_curves({"loss": [2.0, 1.5, 1.2], "val_loss": [2.1, 1.7, 1.6]})
    assert [len(line.get_xdata()) for line in fig.axes[0].get_lines()] == [3, 3]
    images = np.random.default_rng(0).random((5, 784))
    labels = np.array([0, 1, 2, 3, 4])
    probs = np.eye(10)[[0, 1, 9, 3, 9]]
    fig = fashion.plot_predictions(images, labels, probs, CLASS_NAMES, columns=3)
    colours = [ax.title.get_color() for ax in fig.axes if ax.get_title()]
    assert colours == ["black", "black", "red", "black", "red"]
    assert "2 of 5 wrong" in fig._suptitle.get_text()
