"""Observers of notebook 2 (``fashion_mnist``): run the student's functions, record facts.

Each function is named after the grade cell whose hidden part calls it. The models are the
challenge's dense network (its sizes and weights), the optimizer plain SGD at the challenge's
learning rate, the metrics real ``SparseCategoricalAccuracy`` objects that log every
``update_state``/``result``/``reset_state`` call with its values. Where an exercise builds on
another one, that function is replaced, for the duration of the call only, by a stub that
replays the values of the challenge (:class:`StepReplay`, :class:`EpochReplay`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from autograder.observe._io import Challenge, ask, call, observer

PARAMS = ("W0", "b0", "W1", "b1", "W2", "b2")


@contextmanager
def replaced(fn: Any, name: str, stand_in: Any) -> Iterator[None]:
    """Make ``name`` in the globals ``fn`` reads resolve to ``stand_in`` while in the block."""
    namespace = getattr(fn, "__globals__", None)
    if not isinstance(namespace, dict):
        yield
        return
    missing = object()
    saved = namespace.get(name, missing)
    namespace[name] = stand_in
    try:
        yield
    finally:
        if saved is missing:
            namespace.pop(name, None)
        else:
            namespace[name] = saved


def build_model(ch: Challenge, model_class: Any = keras.Model, prefix: str = "") -> Any:
    """Input -> Dense(relu) -> Dense(relu) -> Dense(softmax) with the challenge's weights."""
    sizes = [int(s) for s in ch["sizes"]]
    inputs = keras.Input(shape=(sizes[0],))
    x = keras.layers.Dense(sizes[1], activation="relu")(inputs)
    x = keras.layers.Dense(sizes[2], activation="relu")(x)
    outputs = keras.layers.Dense(sizes[3], activation="softmax")(x)
    model = model_class(inputs=inputs, outputs=outputs)
    model.set_weights([ch.arrays[prefix + name].astype(np.float32) for name in PARAMS])
    return model


def weights(model: Any) -> list[Any]:
    return [np.array(w) for w in model.get_weights()]


def numpy_or_none(value: Any) -> Any:
    try:
        return np.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype=np.float64)
    except Exception:  # noqa: BLE001 - symbolic tensors (inside tf.function), other objects
        return None


def _same(value: Any, expected: np.ndarray) -> bool:
    arr = numpy_or_none(value)
    return arr is not None and arr.shape == expected.shape and bool(
        np.allclose(arr, expected, rtol=1e-6, atol=1e-6))


def logged_sgd(log: list, model: Any, learning_rate: float) -> Any:
    """Plain SGD that logs every ``apply`` in ``log`` (``apply_gradients`` goes through it).

    The log lives in this closure: a list stored as an attribute of a Keras object would be
    copied into a tracked list.
    """
    own = [id(v) for v in model.trainable_variables]

    class LoggedSGD(keras.optimizers.SGD):
        def apply(self, grads: Any, trainable_variables: Any = None) -> Any:
            grads = list(grads)
            variables = list(trainable_variables) if trainable_variables is not None else []
            log.append({"n": len(grads), "none": sum(g is None for g in grads),
                        "vars": [own.index(id(v)) if id(v) in own else -1 for v in variables]})
            return super().apply(grads, trainable_variables)

    return LoggedSGD(learning_rate=learning_rate)


class SpyLoss:
    """``SparseCategoricalCrossentropy()`` that logs whether it was called predictions first."""

    def __init__(self) -> None:
        self.inner = keras.losses.SparseCategoricalCrossentropy()
        self.calls: list[dict] = []

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        true_rank, pred_rank = len(getattr(y_true, "shape", ())), len(getattr(y_pred, "shape", ()))
        self.calls.append({"swapped": true_rank == 2 and pred_rank == 1})
        return self.inner(y_true, y_pred, sample_weight=sample_weight)


def logged_accuracy(log: list) -> Any:
    """A ``SparseCategoricalAccuracy`` that logs its calls (values included) in ``log``."""

    class LoggedAccuracy(keras.metrics.SparseCategoricalAccuracy):
        def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
            log.append({"kind": "update", "y_true": numpy_or_none(y_true),
                        "y_pred": numpy_or_none(y_pred)})
            return super().update_state(y_true, y_pred, sample_weight=sample_weight)

        def result(self) -> Any:
            value = super().result()
            log.append({"kind": "result", "value": numpy_or_none(value),
                        "count": numpy_or_none(self.count)})
            return value

        def reset_state(self) -> None:
            log.append({"kind": "reset", "count": numpy_or_none(self.count)})
            super().reset_state()

    return LoggedAccuracy()


def count_of(metric: Any) -> Any:
    try:
        return float(np.asarray(metric.count.numpy()))
    except Exception:  # noqa: BLE001 - not a Keras mean metric
        return None


def parameter_names(fn: Any) -> Any:
    try:
        return list(inspect.signature(fn).parameters)[:10]
    except (TypeError, ValueError):
        return None


def dataset(x: np.ndarray, y: np.ndarray, batch_size: int) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices(
        (x.astype(np.float32), y.astype(np.int64))).batch(batch_size)


# --------------------------------------------------------------------------- apply_gradient
@observer("apply_gradient_updates_weights")
def apply_gradient_updates_weights(ch: Challenge, apply_gradient: Callable[..., Any]) -> dict:
    """One call on the challenge's network and batch: returned values, weights after, the
    optimizer's calls and the loss object's calls."""
    model, applied, loss = build_model(ch), [], SpyLoss()
    optimizer = logged_sgd(applied, model, float(ch["lr"]))
    x, y = tf.constant(ch.arrays["x"].astype(np.float32)), tf.constant(ch.arrays["y"])
    value, error = call(apply_gradient, optimizer, loss, model, x, y)
    return {"returned": list(value) if isinstance(value, tuple) else (value if error is None
                                                                       else error),
            "weights": weights(model), "applied": applied, "loss_calls": loss.calls}


# --------------------------------------------------------------------------- one epoch
class StepReplay:
    """Stands in for ``apply_gradient`` inside ``train_data_for_one_epoch``: the judge's oracle
    supplies each step. The stub sends the batch and the model's current weights; the oracle
    answers with the reference predictions and loss of that batch and the weights after the
    step only if it is the next batch and the model is where the previous step left it. The
    stub then sets the model and returns them; a refused call raises. Every call is logged."""

    def __init__(self, ch: Challenge, optimizer: Any, loss: Any, model: Any) -> None:
        self.ch, self.own = ch, {"optimizer": optimizer, "loss_object": loss, "model": model}
        n, size = len(ch.arrays["y"]), int(ch["batch_size"])
        self.parts = [slice(s, min(s + size, n)) for s in range(0, n, size)]
        self.calls: list[dict] = []

    def __call__(self, optimizer: Any, loss_object: Any, model: Any, x: Any, y: Any) -> Any:
        k = len(self.calls)
        got = {"optimizer": optimizer, "loss_object": loss_object, "model": model}
        entry = {name: got[name] is self.own[name] for name in got}
        if k < len(self.parts):
            part = self.parts[k]
            entry.update(x=_same(x, self.ch.arrays["x"][part].astype(np.float32)),
                         y=_same(y, self.ch.arrays["y"][part].astype(np.float64)))
        self.calls.append(entry)
        if k >= len(self.parts):
            raise RuntimeError("apply_gradient was called more often than there are batches")
        reply = ask(self.ch, {"x": x, "y": y, "weights": weights(self.own["model"])})
        entry["answered"] = reply is not None
        if reply is None:
            raise RuntimeError("this call of apply_gradient is not the epoch's next step")
        self.own["model"].set_weights(
            [np.asarray(w, dtype=np.float32) for w in reply["weights"]])
        return (tf.constant(np.asarray(reply["probs"], dtype=np.float32)),
                tf.constant(float(reply["loss"]), tf.float32))


@observer("train_data_for_one_epoch_losses")
def train_data_for_one_epoch_losses(ch: Challenge, train_data_for_one_epoch: Callable[..., Any]
                                    ) -> dict:
    """One epoch with apply_gradient replayed: returned losses, the stub's calls, the metric's
    log and its result afterwards."""
    model, loss, events = build_model(ch), SpyLoss(), []
    optimizer = logged_sgd([], model, float(ch["lr"]))
    metric = logged_accuracy(events)
    stub = StepReplay(ch, optimizer, loss, model)
    ds = dataset(ch.arrays["x"], ch.arrays["y"], int(ch["batch_size"]))
    with replaced(train_data_for_one_epoch, "apply_gradient", stub):
        value, error = call(train_data_for_one_epoch, ds, optimizer, loss, model, metric,
                            verbose=False)
    events_seen = list(events)
    return {"returned": value if error is None else error, "apply_calls": stub.calls,
            "events": events_seen, "metric_result": numpy_or_none(metric.result())}


# --------------------------------------------------------------------------- validation
@observer("perform_validation_does_not_train")
def perform_validation_does_not_train(ch: Challenge, perform_validation: Callable[..., Any]
                                      ) -> dict:
    """perform_validation(test_ds, model, loss_object, val_acc_metric): returned losses,
    weights after, the metric's log and result."""
    model, loss, events = build_model(ch), SpyLoss(), []
    metric = logged_accuracy(events)
    ds = dataset(ch.arrays["x"], ch.arrays["y"], int(ch["batch_size"]))
    value, error = call(perform_validation, ds, model, loss, metric)
    events_seen = list(events)
    return {"returned": value if error is None else error, "weights": weights(model),
            "events": events_seen, "loss_calls": loss.calls,
            "parameters": parameter_names(perform_validation),
            "metric_result": numpy_or_none(metric.result())}


# --------------------------------------------------------------------------- the epoch loop
class EpochReplay:
    """Stands in for ``train_data_for_one_epoch`` or ``perform_validation`` inside
    ``fit_custom``: call e asks the judge's oracle for epoch e (labels, predictions, losses),
    updates the metric it is given with them and returns the losses. Each call logs which of
    fit_custom's arguments it got where, and how many examples the metric held on entry."""

    def __init__(self, ch: Challenge, tag: str, own: dict[str, Any], order: list[str]) -> None:
        self.ch, self.tag, self.own, self.order = ch, tag, own, order
        self.calls: list[dict] = []

    def _name(self, value: Any) -> str:
        return next((name for name, obj in self.own.items() if obj is value), "something else")

    def replay(self, got: dict[str, Any]) -> list[Any]:
        e = len(self.calls)
        metric = got[self.order[-1]]
        self.calls.append({"args": {k: self._name(got[k]) for k in self.order},
                           "count_at_start": count_of(metric)})
        if e >= int(self.ch["epochs"]):
            raise RuntimeError(f"called more often than there are epochs ({e + 1})")
        reply = ask(self.ch, {"tag": self.tag})
        if reply is None:
            raise RuntimeError("the replayed epoch was refused")
        for y, p in zip(reply["y"], reply["p"], strict=True):
            metric.update_state(tf.constant(np.asarray(y, dtype=np.int64)),
                                tf.constant(np.asarray(p, dtype=np.float32)))
        return [np.float32(v) for v in reply["losses"]]


@observer("fit_custom_resets_metrics")
def fit_custom_resets_metrics(ch: Challenge, fit_custom: Callable[..., Any]) -> dict:
    """fit_custom with both building blocks replayed: the history, the replays' calls, the
    metrics' logs and what they hold afterwards."""
    model, loss, events = build_model(ch), SpyLoss(), {"train": [], "val": []}
    optimizer = logged_sgd([], model, float(ch["lr"]))
    train_m, val_m = logged_accuracy(events["train"]), logged_accuracy(events["val"])
    train_ds = dataset(ch.arrays["x_train"], ch.arrays["y_train"], 4)
    test_ds = dataset(ch.arrays["x_val"], ch.arrays["y_val"], 4)
    own = {"train_ds": train_ds, "test_ds": test_ds, "model": model, "optimizer": optimizer,
           "loss_object": loss, "train_acc_metric": train_m, "val_acc_metric": val_m}
    train_order = ["train_ds", "optimizer", "loss_object", "model", "train_acc_metric"]
    val_order = ["test_ds", "model", "loss_object", "val_acc_metric"]
    train_stub = EpochReplay(ch, "train", own, train_order)
    val_stub = EpochReplay(ch, "val", own, val_order)

    def train_data_for_one_epoch(train_ds: Any, optimizer: Any, loss_object: Any, model: Any,
                                 train_acc_metric: Any, verbose: bool = True) -> list[Any]:
        return train_stub.replay(dict(zip(train_order, (train_ds, optimizer, loss_object, model,
                                                        train_acc_metric), strict=True)))

    def perform_validation(test_ds: Any, model: Any, loss_object: Any,
                           val_acc_metric: Any) -> list[Any]:
        return val_stub.replay(dict(zip(val_order, (test_ds, model, loss_object,
                                                    val_acc_metric), strict=True)))

    with replaced(fit_custom, "train_data_for_one_epoch", train_data_for_one_epoch), \
            replaced(fit_custom, "perform_validation", perform_validation):
        value, error = call(fit_custom, model, optimizer, loss, train_ds, test_ds, train_m,
                            val_m, int(ch["epochs"]))
    return {"returned": value if error is None else error, "train_calls": train_stub.calls,
            "val_calls": val_stub.calls,
            "counts_after": {"train": count_of(train_m), "val": count_of(val_m)}}


# --------------------------------------------------------------------------- train_step
@observer("train_step_matches_reference")
def train_step_matches_reference(ch: Challenge, custom_model_class: type) -> dict:
    """fit for one batch with the student's CustomModel (SGD, the challenge's loss, two
    metrics): the logs fit returned and the weights after."""
    model, error = call(build_model, ch, custom_model_class)
    if error is not None:
        return {"returned": error, "weights": None}
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=float(ch["lr"])),
                  loss=keras.losses.SparseCategoricalCrossentropy(),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                           keras.metrics.SparseTopKCategoricalAccuracy(k=2, name="top2")],
                  jit_compile=False)
    x, y = ch.arrays["x"].astype(np.float32), ch.arrays["y"].astype(np.int64)
    history, error = call(model.fit, x, y, epochs=1, batch_size=len(x), shuffle=False,
                          verbose=0)
    logs = error if error is not None else dict(history.history)
    return {"returned": logs, "weights": weights(model)}
