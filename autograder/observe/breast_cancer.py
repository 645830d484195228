"""Observers of the ``breast_cancer`` notebook (F1Score, apply_gradient, the training loop).

Each function is named after its grade cell. It builds a small model, an SGD optimizer, data
sets and logged Keras metrics from the cell's challenge, calls the student's code and returns
what it saw. No expected value lives here. Where an exercise builds on another graded function
(``train_data_for_one_epoch`` on ``apply_gradient``; ``train_model`` on
``train_data_for_one_epoch`` and ``perform_validation``), that function is replaced in the
student's globals, for the duration of the call only, by a stub that logs the arguments it
was given and asks the judge's oracle (:func:`autograder.observe._io.ask`) for the values to
replay: the oracle answers only the next expected call, so the replayed values never sit in a
file the kernel can read.
"""

from __future__ import annotations

import contextlib
import inspect
import io
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from autograder.observe._io import Challenge, ask, call, observer

MAX_EVENTS = 2000  # calls logged per metric (a loop gone wild stops being recorded)
VALIDATION_NAMES = ("test_dataset", "model", "loss_object", "val_acc_metric",
                    "val_f1score_metric")


def _tf() -> Any:
    import tensorflow as tf

    return tf


def _model(ch: Challenge, prefix: str = "w") -> Any:
    """Input(d) -> Dense(h, relu) -> Dense(1, sigmoid) with the challenge's weights."""
    tf = _tf()
    inputs = tf.keras.Input(shape=(int(ch["d"]),))
    hidden = tf.keras.layers.Dense(int(ch["h"]), activation="relu")(inputs)
    outputs = tf.keras.layers.Dense(1, activation="sigmoid")(hidden)
    model = tf.keras.Model(inputs=inputs, outputs=outputs)
    if f"{prefix}0" in ch.arrays:
        model.set_weights([ch.arrays[f"{prefix}{i}"] for i in range(4)])
    return model


def _dataset(x: np.ndarray, y: np.ndarray, batch: int) -> Any:
    return _tf().data.Dataset.from_tensor_slices((x, y)).batch(int(batch))


def _numbers(value: Any) -> Any:
    try:
        return np.asarray(value, dtype=np.float64)
    except Exception as exc:  # noqa: BLE001 - anything a student passes
        return exc


class LoggedMetric:
    """A real Keras metric that logs every update_state / result / reset_state call.

    ``shared`` is ``None``: entries go to :attr:`log` as ``["u", y, p]``, ``["r", value,
    updates since the last reset]``, ``["z"]``. Otherwise entries go to the shared list with
    the metric's slot name: ``["u", slot]``, ``["r", slot, value, since]``, ``["z", slot]``.
    """

    def __init__(self, inner: Any, slot: str, shared: list | None = None) -> None:
        self._inner, self._slot, self._shared = inner, slot, shared
        self.log: list[list] = []
        self.since = 0
        self.name = inner.name
        self._updated = False  # Keras' F1Score builds its variables on the first update

    @property
    def variables(self) -> Any:
        return self._inner.variables

    @property
    def dtype(self) -> Any:
        return self._inner.dtype

    def _add(self, entry: list) -> None:
        target = self.log if self._shared is None else self._shared
        if len(target) < MAX_EVENTS:
            target.append(entry if self._shared is None else [entry[0], self._slot, *entry[1:]])

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        tf = _tf()
        self.since += 1
        self._add(["u", _numbers(y_true), _numbers(y_pred)] if self._shared is None else ["u"])
        self._updated = True
        self._inner.update_state(tf.reshape(tf.cast(y_true, "float32"), [-1, 1]),
                                 tf.reshape(tf.cast(y_pred, "float32"), [-1, 1]),
                                 sample_weight)

    def _value(self) -> Any:
        return self._inner.result() if self._updated else _tf().constant(0.0)

    def result(self) -> Any:
        value = self._value()
        self._add(["r", float(value), self.since])
        return value

    def reset_state(self) -> None:
        self.since = 0
        self._add(["z"])
        if self._updated:
            self._inner.reset_state()

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def end(self) -> None:
        """The observer's own read after the student's function returned."""
        self.log.append(["end", float(self._value())])


def _metrics(prefix: str, shared: list | None = None) -> tuple[LoggedMetric, LoggedMetric]:
    tf = _tf()
    acc = LoggedMetric(tf.keras.metrics.BinaryAccuracy(), f"{prefix}_acc_metric", shared)
    f1 = LoggedMetric(tf.keras.metrics.F1Score(average="micro", threshold=0.5, name="f1_score"),
                      f"{prefix}_f1score_metric", shared)
    return acc, f1


@contextlib.contextmanager
def _replaced(fn: Any, **objects: Any) -> Iterator[None]:
    """Bind ``objects`` as globals of ``fn`` (the notebook's namespace) during the call."""
    namespace = getattr(fn, "__globals__", None)
    if not isinstance(namespace, dict):
        yield
        return
    missing = object()
    saved = {name: namespace.get(name, missing) for name in objects}
    namespace.update(objects)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                namespace.pop(name, None)
            else:
                namespace[name] = value


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Progress printed by the student's loop stays out of the grade cell's output."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def _weights(model: Any) -> list[np.ndarray]:
    return [np.asarray(w.numpy()) for w in model.trainable_weights]


def _returned(value: Any, error: Any) -> Any:
    if error is not None:
        return error
    return list(value) if isinstance(value, tuple) else value


# ------------------------------------------------------------------------------ F1Score


def _counters(metric: Any) -> Any:
    try:
        return [float(np.asarray(v.numpy()).ravel()[0]) for v in metric.variables]
    except Exception as exc:  # noqa: BLE001
        return exc


def _feed(metric: Any, ch: Challenge, prefix: str, n: int) -> tuple[list, list]:
    """Update ``metric`` with batches ``<prefix>_y<j>`` / ``<prefix>_p<j>``; result() and the
    counters after each (an exception ends the feed)."""
    tf = _tf()
    results, counters = [], []
    for j in range(n):
        _, error = call(metric.update_state, tf.constant(ch.arrays[f"{prefix}y{j}"]),
                        tf.constant(ch.arrays[f"{prefix}p{j}"]))
        if error is not None:
            results.append(error)
            break
        value, error = call(metric.result)
        results.append(error if error is not None else value)
        counters.append(_counters(metric))
        if error is not None:
            break
    return results, counters


@observer("f1_score_matches_sklearn")
def f1_score_matches_sklearn(ch: Challenge, F1Score: Any) -> dict:  # noqa: N803
    """Feed each case's batches to a new F1Score; result() and counters after each batch."""
    metric, error = call(F1Score)
    if error is not None:
        return {"created": error}
    data: dict[str, Any] = {"created": True, "name": getattr(metric, "name", None),
                            "n_variables": len(list(getattr(metric, "variables", [])))}
    cases = []
    for i, spec in enumerate(ch.params["cases"]):
        metric, error = call(F1Score)
        if error is not None:
            cases.append({"results": [error], "counters": []})
            continue
        results, counters = _feed(metric, ch, f"c{i}_", int(spec["batches"]))
        cases.append({"results": results, "counters": counters})
    data["cases"] = cases
    return data


@observer("f1_score_reset_state")
def f1_score_reset_state(ch: Challenge, F1Score: Any) -> dict:  # noqa: N803
    """A new F1Score given batches B, and one given batches A, reset, then given B."""
    fresh, error = call(F1Score)
    if error is not None:
        return {"created": error}
    data: dict[str, Any] = {"created": True,
                            "n_variables": len(list(getattr(fresh, "variables", [])))}
    data["fresh_empty"] = _returned(*call(fresh.result))
    data["fresh_results"], _ = _feed(fresh, ch, "b_", int(ch.params["after"]))
    metric, error = call(F1Score)
    if error is not None:
        return {**data, "counters_after_reset": error}
    before, _ = _feed(metric, ch, "a_", int(ch.params["before"]))
    _, error = call(metric.reset_state)
    if error is not None:
        return {**data, "counters_after_reset": error}
    data["counters_after_reset"] = _counters(metric)
    data["counter_names"] = [str(getattr(v, "name", "?")) for v in metric.variables]
    data["reset_empty"] = _returned(*call(metric.result))
    data["reset_results"], _ = _feed(metric, ch, "b_", int(ch.params["after"]))
    data["before_reset"] = before
    return data


# ------------------------------------------------------------------------ apply_gradient


@observer("apply_gradient_updates_weights")
def apply_gradient_updates_weights(ch: Challenge, apply_gradient: Callable[..., Any]) -> dict:
    """One call on the challenge's batch: what it returned and the weights after it."""
    tf = _tf()
    model = _model(ch)
    optimizer = tf.keras.optimizers.SGD(learning_rate=float(ch["lr"]))
    loss_object = tf.keras.losses.BinaryCrossentropy()
    with _quiet():
        out, error = call(apply_gradient, optimizer, loss_object, model,
                          tf.constant(ch.arrays["x"]), tf.constant(ch.arrays["y"]))
    return {"returned": _returned(out, error), "weights_after": _weights(model)}


# -------------------------------------------------------------- train_data_for_one_epoch


class StepReplay:
    """Stands in for ``apply_gradient`` inside ``train_data_for_one_epoch``: the judge's oracle
    supplies each step.

    The stub logs which of the epoch function's own objects it got and the head of the batch,
    then sends the batch, those identity flags and the model's current weights; the oracle
    answers with the reference logits and loss of the batch and the weights after the step
    only if it is the next batch, with the function's own optimizer, loss and model, on the
    model where the previous step left it. The stub then sets the model and returns them; a
    refused or unanswered call returns NaN and leaves the model alone.
    """

    def __init__(self, ch: Challenge, optimizer: Any, loss_object: Any, model: Any) -> None:
        self.ch = ch
        self.own = {"optimizer": optimizer, "loss_object": loss_object, "model": model}
        self.calls: list[dict] = []

    def __call__(self, optimizer: Any, loss_object: Any, model: Any, x: Any, y: Any
                 ) -> tuple[Any, Any]:
        tf = _tf()
        got = {"optimizer": optimizer, "loss_object": loss_object, "model": model}
        flags = {name: got[name] is self.own[name] for name in got}
        entry: dict[str, Any] = {**flags,
                                 "x": _numbers(x).ravel()[:6] if hasattr(x, "shape") else None,
                                 "y": _numbers(y).ravel()[:8] if hasattr(y, "shape") else None}
        if len(self.calls) < MAX_EVENTS:
            self.calls.append(entry)
        reply = ask(self.ch, {**flags, "x": _numbers(x), "y": _numbers(y),
                              "weights": _weights(self.own["model"])})
        entry["answered"] = reply is not None
        if reply is None:
            seen = _numbers(x)
            rows = seen.shape[0] if isinstance(seen, np.ndarray) and seen.ndim else 1
            return (tf.constant(np.full((rows, 1), np.nan, dtype=np.float32)),
                    tf.constant(float("nan"), tf.float32))
        self.own["model"].set_weights(
            [np.asarray(w, dtype=np.float32) for w in reply["weights"]])
        return (tf.constant(np.asarray(reply["logits"], dtype=np.float32)),
                tf.constant(float(reply["loss"]), tf.float32))


@observer("train_data_for_one_epoch_losses_and_metrics")
def train_data_for_one_epoch_losses_and_metrics(
        ch: Challenge, train_data_for_one_epoch: Callable[..., Any]) -> dict:
    """One epoch with ``apply_gradient`` replaced by a stub the judge's oracle answers."""
    tf = _tf()
    model = _model(ch)
    optimizer = tf.keras.optimizers.SGD(learning_rate=float(ch["lr"]))
    loss_object = tf.keras.losses.BinaryCrossentropy()
    acc, f1 = _metrics("train")
    stub = StepReplay(ch, optimizer, loss_object, model)
    dataset = _dataset(ch.arrays["x"], ch.arrays["y"], ch["batch"])
    with _replaced(train_data_for_one_epoch, apply_gradient=stub), _quiet():
        out, error = call(train_data_for_one_epoch, dataset, optimizer, loss_object, model,
                          acc, f1)
    acc.end()
    f1.end()
    return {"returned": _returned(out, error), "calls": stub.calls[:50], "acc": acc.log,
            "f1": f1.log}


# --------------------------------------------------------------------- perform_validation


def _takes_arguments(fn: Any) -> bool:
    try:
        return len(inspect.signature(fn).parameters) > 0
    except (TypeError, ValueError):
        return True


@observer("perform_validation_losses_and_metrics")
def perform_validation_losses_and_metrics(ch: Challenge,
                                          perform_validation: Callable[..., Any]) -> dict:
    """A validation pass on the challenge's data (arguments, or the original no-argument
    style with the observer's objects bound to the notebook names during the call)."""
    tf = _tf()
    model = _model(ch)
    loss_object = tf.keras.losses.BinaryCrossentropy()
    acc, f1 = _metrics("val")
    objects = dict(zip(VALIDATION_NAMES,
                       (_dataset(ch.arrays["x"], ch.arrays["y"], ch["batch"]), model,
                        loss_object, acc, f1), strict=True))
    with _quiet():
        if _takes_arguments(perform_validation):
            out, error = call(perform_validation, *objects.values())
        else:
            with _replaced(perform_validation, **objects):
                out, error = call(perform_validation)
    acc.end()
    f1.end()
    return {"returned": _returned(out, error), "weights_after": _weights(model),
            "acc": acc.log, "f1": f1.log}


# ---------------------------------------------------------------------------- train_model


@observer("train_model_resets_metrics")
def train_model_resets_metrics(ch: Challenge, train_model: Callable[..., Any]) -> dict:
    """The epoch loop with both epoch functions replaced by stubs that replay, epoch by epoch,
    the metric updates and losses the judge's oracle serves; one shared log of stub calls and
    metric calls, in order."""
    tf = _tf()
    events: list[list] = []
    epochs, n_train, n_val = int(ch["epochs"]), int(ch["n_train"]), int(ch["n_val"])
    train_acc, train_f1 = _metrics("train", events)
    val_acc, val_f1 = _metrics("val", events)
    model = _model(ch)
    objects = {
        "train_dataset": _dataset(ch.arrays["x"], ch.arrays["y"], 2),
        "test_dataset": _dataset(ch.arrays["x"], ch.arrays["y"], 3),
        "model": model, "optimizer": tf.keras.optimizers.SGD(learning_rate=0.01),
        "loss_object": tf.keras.losses.BinaryCrossentropy(),
        "train_acc_metric": train_acc, "train_f1score_metric": train_f1,
        "val_acc_metric": val_acc, "val_f1score_metric": val_f1,
    }
    names = {id(v): k for k, v in objects.items()}

    def name_of(value: Any) -> Any:
        return None if value is None else names.get(id(value), f"another {type(value).__name__}")

    def replay(stub: str, tag: str, args: tuple, metrics: tuple[Any, Any], n: int) -> list[Any]:
        """Log the call, ask the oracle for this stub's next epoch, update ``metrics`` with it
        and return its losses (NaN losses and no update when refused)."""
        done = sum(1 for e in events if e[0] == stub)
        got = [name_of(a) for a in args]
        if len(events) < MAX_EVENTS:
            events.append([stub, done, got])
        reply = ask(ch, {"tag": tag, "args": got})
        if reply is None:
            return [tf.constant(float("nan"))] * n
        for y, p in zip(reply["y"], reply["p"], strict=True):
            for metric in metrics:
                metric.update_state(tf.constant(np.asarray(y, dtype=np.float32)),
                                    tf.constant(np.asarray(p, dtype=np.float32)))
        return [tf.constant(np.float32(v)) for v in reply["losses"]]

    def train_data_for_one_epoch(train_dataset: Any, optimizer: Any, loss_object: Any,
                                 model: Any, train_acc_metric: Any, train_f1score_metric: Any,
                                 verbose: bool = True) -> list[Any]:
        return replay("train_data_for_one_epoch", "train",
                      (train_dataset, optimizer, loss_object, model, train_acc_metric,
                       train_f1score_metric), (train_acc_metric, train_f1score_metric), n_train)

    def perform_validation(test_dataset: Any = None, model: Any = None, loss_object: Any = None,
                           val_acc_metric: Any = None, val_f1score_metric: Any = None
                           ) -> list[Any]:
        acc = objects["val_acc_metric"] if val_acc_metric is None else val_acc_metric
        f1 = objects["val_f1score_metric"] if val_f1score_metric is None else val_f1score_metric
        return replay("perform_validation", "val",
                      (test_dataset, model, loss_object, val_acc_metric, val_f1score_metric),
                      (acc, f1), n_val)

    stubs = {"train_data_for_one_epoch": train_data_for_one_epoch,
             "perform_validation": perform_validation}
    with _replaced(train_model, **stubs), _quiet():
        out, error = call(train_model, epochs, objects["train_dataset"],
                          objects["test_dataset"], model, objects["optimizer"],
                          objects["loss_object"], train_acc, train_f1, val_acc, val_f1)
    return {"returned": _returned(out, error), "events": events}
