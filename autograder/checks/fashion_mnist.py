"""Hidden-test checks of the ``fashion_mnist`` notebook (a training loop without ``model.fit``).

Every check builds its own small model(s), optimizer(s) and seeded random data, runs the
student's function, and compares with a reference computed here at run time (a fresh
``tf.GradientTape`` step of a fresh, identical optimizer on a weight-for-weight copy of the
model). The notebook's own model, optimizer and data are never used.

The check models contain a ``BatchNormalization`` layer: it behaves differently with
``training=True`` and ``training=False``, so a forward pass with the wrong flag shows up.
Keras 3 optimizers bind to the variables they first update, so there is one optimizer per model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autograder.checks._common import CheckFailure, check_close, fail, is_close, snapshot, to_numpy

N_FEATURES = 12
N_CLASSES = 4
LEARNING_RATE = 0.01
# One Adam step moves every weight by about LEARNING_RATE, so these tolerances separate a
# correct step (float32 round-off only) from any wrong one by three orders of magnitude.
W_RTOL, W_ATOL = 1e-4, 1e-5
L_RTOL, L_ATOL = 1e-4, 1e-5


# ----------------------------------------------------------------------------- building blocks


def _keras() -> Any:
    import keras

    return keras


def _data(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Separable clusters: a model learns them within a few steps, so accuracy moves per epoch."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 2.0, size=(N_CLASSES, N_FEATURES))
    y = rng.integers(0, N_CLASSES, size=n)
    x = centres[y] + rng.normal(0.0, 1.0, size=(n, N_FEATURES))
    return x.astype("float32"), y.astype("int64")


def _dataset(x: np.ndarray, y: np.ndarray, batch_size: int) -> Any:
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)


def _model(seed: int, model_class: Any = None) -> Any:
    """Input -> Dense(16, relu) -> BatchNormalization -> Dense(N_CLASSES, softmax), seeded."""
    keras = _keras()
    inputs = keras.Input(shape=(N_FEATURES,))
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    hidden = keras.layers.BatchNormalization()(hidden)
    outputs = keras.layers.Dense(N_CLASSES, activation="softmax")(hidden)
    model = (model_class or keras.Model)(inputs=inputs, outputs=outputs)
    rng = np.random.default_rng(seed)
    model.set_weights(
        [
            rng.normal(0.0, 0.4, size=w.shape).astype("float32") if w.ndim == 2 else w
            for w in model.get_weights()
        ]
    )
    return model


def _copy(model: Any, seed: int) -> Any:
    twin = _model(seed)
    twin.set_weights(model.get_weights())
    return twin


def _loss() -> Any:
    return _keras().losses.SparseCategoricalCrossentropy()


def _adam() -> Any:
    return _keras().optimizers.Adam(learning_rate=LEARNING_RATE)


def _accuracy(y: Any, probs: Any) -> tuple[int, int]:
    """(number correct, number of examples) by numpy argmax: the independent reference."""
    labels = to_numpy(y).reshape(-1).astype(np.int64)
    predicted = np.argmax(to_numpy(probs).reshape(len(labels), -1), axis=-1)
    return int(np.sum(predicted == labels)), len(labels)


def _reference_step(model: Any, optimizer: Any, x: Any, y: Any) -> tuple[Any, float]:
    """One textbook step: forward pass under a tape, loss, gradients, ``apply_gradients``."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        probs = model(x, training=True)
        loss = _loss()(y, probs)
    grads = tape.gradient(loss, model.trainable_weights)
    optimizer.apply_gradients(zip(grads, model.trainable_weights, strict=True))
    return probs, float(loss)


def _scalar(value: Any, what: str) -> float:
    arr = to_numpy(value)
    if arr.size != 1:
        fail(f"{what} has shape {arr.shape}", "a single number per batch",
             "reduce the loss to a scalar: the loss object already averages over the batch")
    return float(arr.reshape(()))


def _call(fn: Callable, name: str, *args: Any, **kwargs: Any) -> Any:
    """Call the student's function; turn an exception into a message that names the cause."""
    try:
        return fn(*args, **kwargs)
    except CheckFailure:
        raise
    except Exception as exc:  # noqa: BLE001 - any student error becomes a readable failure
        text = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, NotImplementedError):
            hint = f"{name} is still the stub: replace `raise NotImplementedError()` by your code"
        elif name == "perform_validation" and "optimizer" in text.lower():
            hint = ("validation trains the model: it must not use an optimizer; do a forward "
                    "pass only, `logits = model(x_val, training=False)`")
        elif "metric has not yet been built" in text:
            hint = ("train_step returns stale metrics: a metric's result() was read before its "
                    "first update_state(); update every metric (`m.update_state(loss)` for the "
                    "loss tracker, `m.update_state(y, y_pred)` for the others), then return "
                    "their result()")
        elif "No gradients provided" in text or "NoneType" in text:
            hint = ("the gradients are None: the forward pass and the loss must run inside "
                    "`with tf.GradientTape() as tape:`, and `tape.gradient(loss, "
                    "model.trainable_weights)` must come after them")
        elif "must have rank" in text or "target.shape" in text:
            hint = ("loss arguments swapped or wrong shapes: call `loss_object(y, logits)`, "
                    "labels first, predictions second")
        else:
            hint = "read the error above; run your function on one batch to reproduce it"
        fail(f"{name} raised {text[:400]}", "it to run without an error", hint)


class _SpyLoss:
    """SparseCategoricalCrossentropy that refuses to be called with its arguments swapped."""

    def __init__(self) -> None:
        self.inner = _loss()
        self.calls = 0

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        true_rank = len(getattr(y_true, "shape", ()))
        pred_rank = len(getattr(y_pred, "shape", ()))
        if true_rank == 2 and pred_rank == 1 and int(y_true.shape[-1]) == N_CLASSES:
            fail(
                "loss_object was called as loss_object(logits, y): predictions first",
                "loss_object(y, logits): labels (y_true) first, predictions (y_pred) second",
                "loss arguments swapped",
            )
        self.calls += 1
        return self.inner(y_true, y_pred, sample_weight=sample_weight)


def _recording_adam() -> Any:
    """An Adam optimizer (same settings as :func:`_adam`) that records what it was asked to do."""
    keras = _keras()

    class RecordingAdam(keras.optimizers.Adam):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.applied: list[list[Any]] = []

        def apply(self, grads: Any, trainable_variables: Any = None) -> Any:
            grads = list(grads)
            variables = list(trainable_variables or [])
            missing = [v.path for g, v in zip(grads, variables, strict=False) if g is None]
            if missing:
                fail(
                    f"the gradients are None for {len(missing)} of {len(grads)} variables "
                    f"({', '.join(missing[:3])}...)",
                    "a gradient tensor for every trainable weight",
                    "tape around the wrong code: the forward pass `model(x, training=True)` "
                    "and the loss must be computed inside `with tf.GradientTape() as tape:`",
                )
            self.applied.append(variables)
            return super().apply(grads, trainable_variables)

    return RecordingAdam(learning_rate=LEARNING_RATE)


def _check_all_weights_updated(optimizer: Any, model: Any, who: str) -> None:
    if not optimizer.applied:
        fail(
            f"the weights did not change after {who}",
            "one optimizer step on every trainable weight",
            "no apply_gradients: call `optimizer.apply_gradients(zip(gradients, "
            "model.trainable_weights))` after computing the gradients",
        )
    wanted = {id(v): v.path for v in model.trainable_weights}
    for variables in optimizer.applied:
        got = {id(v) for v in variables}
        left_out = [path for key, path in wanted.items() if key not in got]
        if left_out:
            fail(
                f"only {len(wanted) - len(left_out)} of {len(wanted)} trainable weights were "
                f"updated (left out: {', '.join(left_out)})",
                "all of model.trainable_weights",
                "gradients of a subset of the weights: take `tape.gradient(loss, "
                "model.trainable_weights)` and apply them to the same full list",
            )


def _compare_weights(model: Any, reference: Any, hint: str) -> None:
    for got, want in zip(model.weights, reference.weights, strict=True):
        check_close(got, want, f"weight {got.path} after the step", hint, W_RTOL, W_ATOL)


# ----------------------------------------------------------------------------- the checks


def check_apply_gradient(apply_gradient: Callable, seed: int = 7) -> None:
    """One call must be exactly one optimizer step on the true gradients of the loss."""
    x, y = _data(seed, 24)
    model = _model(seed)
    reference = _copy(model, seed)
    pristine = _copy(model, seed)  # never stepped; only called with training=False
    optimizer = _recording_adam()

    result = _call(apply_gradient, "apply_gradient", optimizer, _SpyLoss(), model, x, y)
    if not isinstance(result, tuple | list) or len(result) != 2:
        fail(f"apply_gradient returned {type(result).__name__}", "a pair (logits, loss_value)",
             "end with `return logits, loss_value`")
    logits, loss_value = result

    ref_probs, ref_loss = _reference_step(reference, _adam(), x, y)
    eval_probs = pristine(x, training=False)
    if to_numpy(logits).shape != (len(x), N_CLASSES):
        fail(f"logits have shape {to_numpy(logits).shape}", f"shape {(len(x), N_CLASSES)}",
             "return the model's output for the whole batch, `logits = model(x, training=True)`")
    if not is_close(logits, ref_probs, L_RTOL, L_ATOL) and is_close(logits, eval_probs):
        fail("the logits equal the model's output in inference mode",
             "the output of `model(x, training=True)`",
             "training flag: call the model with training=True in the training step "
             "(layers such as Dropout and BatchNormalization depend on it)")
    check_close(logits, ref_probs, "logits", "return the output of `model(x, training=True)` "
                "computed before the update", L_RTOL, L_ATOL)

    _check_all_weights_updated(optimizer, model, "apply_gradient")
    check_close(_scalar(loss_value, "loss_value"), ref_loss, "returned loss",
                "return `loss_object(y, logits)` computed inside the tape, before the update",
                L_RTOL, L_ATOL)
    _compare_weights(model, reference,
                     "apply one step of the given optimizer to the gradients of "
                     "`loss_object(y, model(x, training=True))` w.r.t. model.trainable_weights")


def check_train_data_for_one_epoch(train_data_for_one_epoch: Callable, seed: int = 11) -> None:
    """One loss per batch (each the reference's) and the metric's accuracy over the epoch."""
    keras = _keras()
    x, y = _data(seed, 40)
    batch = 16  # 16 + 16 + 8: the last batch is smaller
    model = _model(seed)
    reference = _copy(model, seed)
    metric = keras.metrics.SparseCategoricalAccuracy()

    losses = _call(train_data_for_one_epoch, "train_data_for_one_epoch", _dataset(x, y, batch),
                   _recording_adam(), _SpyLoss(), model, metric, verbose=False)

    ref_opt = _adam()
    ref_losses, correct, batch_acc = [], 0, 0.0
    for start in range(0, len(x), batch):
        xb, yb = x[start:start + batch], y[start:start + batch]
        probs, loss = _reference_step(reference, ref_opt, xb, yb)
        ref_losses.append(loss)
        hit, count = _accuracy(yb, probs)
        correct, batch_acc = correct + hit, hit / count
    if not isinstance(losses, Sequence) or len(losses) != len(ref_losses):
        got = len(losses) if isinstance(losses, Sequence) else type(losses).__name__
        fail(f"train_data_for_one_epoch returned {got} losses",
             f"a list of {len(ref_losses)} (one per batch)",
             "append each batch's loss to a list and return the list after the loop")
    observed = [_scalar(v, f"loss of batch {i}") for i, v in enumerate(losses)]
    check_close(observed, ref_losses, "per-batch losses",
                "call apply_gradient(optimizer, loss_object, model, x_batch, y_batch) once per "
                "batch and keep the loss it returns", L_RTOL, L_ATOL)
    _compare_weights(model, reference, "one optimizer step per batch, in order")

    expected = correct / len(x)
    result = float(metric.result())
    if not np.isclose(result, expected, atol=1e-6) and np.isclose(result, batch_acc, atol=1e-6):
        fail(f"train_acc_metric is {result:.4f}, the accuracy of the last batch only",
             f"{expected:.4f}, the accuracy over the whole epoch",
             "the metric is reset inside the loop: reset it once per epoch, in the epoch loop")
    check_close(result, expected, "train_acc_metric.result()",
                "call `train_acc_metric.update_state(y_batch, logits)` once per batch",
                0.0, 1e-6)


def check_perform_validation(perform_validation: Callable, seed: int = 13) -> None:
    """Forward pass only: no weight changes, correct per-batch losses, metric updated."""
    keras = _keras()
    x, y = _data(seed, 40)
    batch = 16
    model = _model(seed)
    metric = keras.metrics.SparseCategoricalAccuracy()
    ref_losses, correct = [], 0
    for start in range(0, len(x), batch):
        xb, yb = x[start:start + batch], y[start:start + batch]
        probs = model(xb, training=False)
        ref_losses.append(float(_loss()(yb, probs)))
        correct += _accuracy(yb, probs)[0]
    trainable = snapshot(model.trainable_weights)
    everything = snapshot(model.weights)

    losses = _call(perform_validation, "perform_validation", _dataset(x, y, batch), _SpyLoss(),
                   model, metric)

    moved = [v.path for b, v in zip(trainable, model.trainable_weights, strict=True)
             if not np.array_equal(b, v.numpy())]
    if moved:
        fail(f"perform_validation changed the model's trainable weights ({', '.join(moved)})",
             "no weight change at all",
             "validation trains the model: do a forward pass only, "
             "`logits = model(x_val, training=False)`, with no tape and no optimizer step")
    if any(not np.array_equal(b, v.numpy())
           for b, v in zip(everything, model.weights, strict=True)):
        fail("perform_validation changed BatchNormalization's moving statistics",
             "no state change at all", "validation calls the model with training=True; "
             "use `model(x_val, training=False)` (or leave training out)")
    if not isinstance(losses, Sequence) or len(losses) != len(ref_losses):
        got = len(losses) if isinstance(losses, Sequence) else type(losses).__name__
        fail(f"perform_validation returned {got} losses",
             f"a list of {len(ref_losses)} (one per batch)",
             "append each batch's validation loss to a list and return the list")
    observed = [_scalar(v, f"validation loss of batch {i}") for i, v in enumerate(losses)]
    check_close(observed, ref_losses, "per-batch validation losses",
                "compute `loss_object(y_val, model(x_val, training=False))` for each batch",
                L_RTOL, L_ATOL)
    check_close(float(metric.result()), correct / len(x), "val_acc_metric.result()",
                "call `val_acc_metric.update_state(y_val, logits)` once per batch", 0.0, 1e-6)


def _instrumented_accuracy(tag: str, events: list[tuple[str, str, Any]]) -> Any:
    """A SparseCategoricalAccuracy logging each update (with a numpy count), read and reset."""
    keras = _keras()

    class LoggedAccuracy(keras.metrics.SparseCategoricalAccuracy):
        def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
            events.append((tag, "update", _accuracy(y_true, y_pred)))
            return super().update_state(y_true, y_pred, sample_weight=sample_weight)

        def result(self) -> Any:
            value = super().result()
            events.append((tag, "result", float(value)))
            return value

        def reset_state(self) -> None:
            events.append((tag, "reset", None))
            super().reset_state()

    return LoggedAccuracy()


def _epoch_expectations(
    events: list[tuple[str, str, Any]], tag: str, per_epoch: int, epochs: int, name: str
) -> tuple[list[float], list[float], list[int]]:
    """Per-epoch and cumulative accuracy from the logged updates, and resets per epoch end."""
    updates = [(i, e[2]) for i, e in enumerate(events) if e[0] == tag and e[1] == "update"]
    if len(updates) != per_epoch * epochs:
        fail(f"{name} was updated {len(updates)} times in {epochs} epochs",
             f"{per_epoch * epochs} updates (once per batch)",
             f"call `{name}.update_state(y, logits)` once per batch")
    per, cumulative, resets_after = [], [], []
    hits = total = 0
    for epoch in range(epochs):
        chunk = updates[epoch * per_epoch:(epoch + 1) * per_epoch]
        e_hits = sum(c for _, (c, _n) in chunk)
        e_total = sum(n for _, (_c, n) in chunk)
        hits, total = hits + e_hits, total + e_total
        per.append(e_hits / e_total)
        cumulative.append(hits / total)
        start = chunk[-1][0]
        stop = updates[(epoch + 1) * per_epoch][0] if epoch + 1 < epochs else len(events)
        resets_after.append(
            sum(1 for e in events[start:stop] if e[0] == tag and e[1] == "reset")
        )
    return per, cumulative, resets_after


def check_fit_custom(fit_custom: Callable, seed: int = 17, epochs: int = 2) -> None:
    """The epoch loop reports per-epoch metrics and resets every metric after reading it."""
    x, y = _data(seed, 48)
    x_val, y_val = _data(seed + 1, 32)
    batch = 16
    train_ds, val_ds = _dataset(x, y, batch), _dataset(x_val, y_val, batch)
    events: list[tuple[str, str, Any]] = []
    train_metric = _instrumented_accuracy("train", events)
    val_metric = _instrumented_accuracy("val", events)
    model = _model(seed)

    history = _call(fit_custom, "fit_custom", model, _recording_adam(), _SpyLoss(), train_ds,
                    val_ds, train_metric, val_metric, epochs)

    keys = ("loss", "accuracy", "val_loss", "val_accuracy")
    if not isinstance(history, dict) or any(k not in history for k in keys):
        got = sorted(history) if isinstance(history, dict) else type(history).__name__
        fail(f"fit_custom returned {got}", f"a dict with keys {list(keys)}",
             "collect each epoch's values in `history[key].append(...)` and return history")
    for key in keys:
        if len(history[key]) != epochs:
            fail(f"history[{key!r}] has {len(history[key])} values", f"{epochs} (one per epoch)",
                 "append one value per epoch, after the epoch's batches")
        values = [_scalar(v, f"history[{key!r}]") for v in history[key]]
        if not all(np.isfinite(values)):
            fail(f"history[{key!r}] is {values}", "finite numbers",
                 "store the mean of the epoch's batch losses and the metrics' result()")

    for tag, metric_name, key, per_epoch in (
        ("train", "train_acc_metric", "accuracy", 3),
        ("val", "val_acc_metric", "val_accuracy", 2),
    ):
        per, cumulative, resets = _epoch_expectations(events, tag, per_epoch, epochs, metric_name)
        reported = [_scalar(v, f"history[{key!r}]") for v in history[key]]
        for epoch in range(epochs):
            if np.isclose(reported[epoch], per[epoch], atol=1e-6):
                continue
            if epoch and np.isclose(reported[epoch], cumulative[epoch], atol=1e-6):
                fail(f"{metric_name} reported {reported[epoch]:.4f} for epoch {epoch + 1}, "
                     f"the accuracy over epochs 1-{epoch + 1} together",
                     f"{per[epoch]:.4f}, epoch {epoch + 1} only",
                     f"metric never reset: call `{metric_name}.reset_state()` at the end of "
                     "each epoch, after reading its result")
            if reported[epoch] == 0.0 and per[epoch] > 0:
                fail(f"{metric_name} reported 0 for epoch {epoch + 1}",
                     f"{per[epoch]:.4f}", f"metric reset before its result was read: call "
                     f"`{metric_name}.result()` first, then `{metric_name}.reset_state()`")
            fail(f"history[{key!r}][{epoch}] is {reported[epoch]:.4f}",
                 f"{per[epoch]:.4f}, the accuracy of epoch {epoch + 1}",
                 f"store `{metric_name}.result()` once per epoch, after all its batches")
        for epoch, count in enumerate(resets):
            if count == 0:
                fail(f"{metric_name} was not reset after epoch {epoch + 1}",
                     "reset_state() on every metric at the end of every epoch",
                     f"metric never reset (only one metric reset?): call "
                     f"`{metric_name}.reset_state()` at the end of each epoch")


def check_train_step(custom_model_class: type, seed: int = 19) -> None:
    """``fit`` with the overridden train_step takes the reference step and logs every metric."""
    keras = _keras()
    x, y = _data(seed, 32)
    model = _model(seed, custom_model_class)
    reference = _copy(model, seed)
    pristine = _copy(model, seed)
    model.compile(
        optimizer=_adam(),
        loss=_loss(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                 keras.metrics.SparseTopKCategoricalAccuracy(k=2, name="top2")],
        jit_compile=False,
    )
    trainable = snapshot(model.trainable_weights)
    history = _call(model.fit, "model.fit with your train_step", x, y, epochs=1,
                    batch_size=len(x), shuffle=False, verbose=0)

    probs, ref_loss = _reference_step(reference, _adam(), x, y)
    hits, count = _accuracy(y, probs)
    top2 = np.argsort(to_numpy(probs), axis=-1)[:, -2:]
    expected = {
        "loss": ref_loss,
        "accuracy": hits / count,
        "top2": float(np.mean(np.any(top2 == y[:, None], axis=-1))),
    }
    if all(np.array_equal(b, v.numpy())
           for b, v in zip(trainable, model.trainable_weights, strict=True)):
        fail("the weights did not change after fit()",
             "one optimizer step per batch",
             "train_step skips the optimizer: call `self.optimizer.apply_gradients(zip("
             "gradients, self.trainable_variables))`")
    logs = {k: v[-1] for k, v in history.history.items()}
    eval_loss = float(_loss()(y, pristine(x, training=False)))
    for name, want in expected.items():
        if name not in logs:
            fail(f"the logs returned by train_step have keys {sorted(logs)}",
                 f"the loss and every compiled metric by name ({sorted(expected)})",
                 "return `{m.name: m.result() for m in self.metrics}` after updating them")
        got = _scalar(logs[name], f"logs[{name!r}]")
        if np.isclose(got, want, rtol=L_RTOL, atol=L_ATOL):
            continue
        if got == 0.0:
            fail(f"logs[{name!r}] is 0 after one batch", f"{want:.6f}",
                 "train_step returns stale metrics: update every metric "
                 "(`m.update_state(loss)` for the loss tracker, `m.update_state(y, y_pred)` "
                 "for the others) before returning their result()")
        if name == "loss" and np.isclose(got, eval_loss, rtol=L_RTOL, atol=L_ATOL):
            fail("the loss equals the model's loss in inference mode",
                 f"{want:.6f}, the loss of `self(x, training=True)`",
                 "training flag: call `self(x, training=True)` in train_step")
        check_close(got, want, f"logs[{name!r}]",
                    "update the loss tracker with the loss and the other metrics with "
                    "(y, y_pred), then return their result()", L_RTOL, L_ATOL)
    _compare_weights(model, reference,
                     "forward pass `self(x, training=True)` under a tape, "
                     "`self.compute_loss(x=x, y=y, y_pred=y_pred)`, gradients of "
                     "self.trainable_variables, then the optimizer step")
