"""Hidden-test checks of the ``breast_cancer`` assignment (custom metric and training loop).

Every check builds its own small models, optimizers and data with fixed seeds (never the
notebook's) and computes the expected result at run time from an independent reference:
scikit-learn's ``f1_score`` for the metric, a fresh ``tf.GradientTape`` and the optimizer's
update formula in numpy for one step, a reference replay of the epoch for the loop. Functions
that the original course wrote against notebook globals (``perform_validation()``) are run
with the check's own objects injected into the notebook namespace (``fn.__globals__``) and the
previous values restored afterwards.
"""

from __future__ import annotations

import contextlib
import inspect
import io
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from autograder.checks._common import (
    changed,
    check_close,
    fail,
    self_test,
    snapshot,
    to_numpy,
)

SEED = 20240
LOSS_RTOL = 1e-4  # float32 losses of the same ops: equal up to accumulation order
LOSS_ATOL = 1e-6
WEIGHT_RTOL = 1e-4
WEIGHT_ATOL = 1e-6
F1_ATOL = 1e-6  # float32 ratio of small integer counts
BOUNDARY = 1e-3  # predictions this close to 0.5 may round either way: not compared
VALIDATION_NAMES = ("test_dataset", "model", "loss_object", "val_acc_metric",
                    "val_f1score_metric")


# --------------------------------------------------------------------------- building blocks


def _tf() -> Any:
    import tensorflow as tf

    return tf


def _model(n_features: int, seed: int, hidden: int = 8) -> Any:
    """A small sigmoid classifier with seeded initial weights (same layout as the notebook)."""
    tf = _tf()
    init = tf.keras.initializers.GlorotUniform
    inputs = tf.keras.Input(shape=(n_features,))
    x = tf.keras.layers.Dense(hidden, activation="relu", kernel_initializer=init(seed),
                              bias_initializer=tf.keras.initializers.RandomNormal(
                                  stddev=0.1, seed=seed + 1))(inputs)
    outputs = tf.keras.layers.Dense(1, activation="sigmoid",
                                    kernel_initializer=init(seed + 2))(x)
    return tf.keras.Model(inputs=inputs, outputs=outputs)


def _clone(model: Any) -> Any:
    tf = _tf()
    twin = tf.keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    return twin


def _problem(seed: int, n: int, n_features: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Normalised features and (n, 1) float32 labels that depend on them (both classes)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n_features)).astype("float32")
    w = rng.normal(size=(n_features,))
    y = ((x @ w + 0.5 * rng.normal(size=n)) > 0).astype("float32").reshape(-1, 1)
    return x, y


def _dataset(x: np.ndarray, y: np.ndarray, batch: int) -> Any:
    return _tf().data.Dataset.from_tensor_slices((x, y)).batch(batch)


def _batches(x: np.ndarray, y: np.ndarray, batch: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(x[i:i + batch], y[i:i + batch]) for i in range(0, len(x), batch)]


def _fresh_optimizer(optimizer: Any) -> Any:
    return optimizer.__class__.from_config(optimizer.get_config())


def _weight_names(model: Any) -> list[str]:
    return [getattr(v, "path", None) or v.name for v in model.trainable_weights]


class RecordingMetric:
    """Stands in for a Keras metric and records every call (update_state, result, reset_state).

    ``result()`` returns accuracy or F1 of the predictions recorded since the last reset, so a
    loop that prints it works as usual.
    """

    def __init__(self, name: str, kind: str) -> None:
        self.name = name
        self.kind = kind
        self.updates: list[tuple[np.ndarray, np.ndarray]] = []
        self.current: list[tuple[np.ndarray, np.ndarray]] = []
        self.reads: list[tuple[int, int]] = []  # (updates since reset, updates in total)
        self.resets: list[int] = []  # updates in total at each reset
        self.variables: list[Any] = []

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        pair = (to_numpy(y_true).ravel(), to_numpy(y_pred).ravel())
        self.updates.append(pair)
        self.current.append(pair)

    def result(self) -> Any:
        self.reads.append((len(self.current), len(self.updates)))
        value = 0.0
        if self.current:
            y_true = np.concatenate([p[0] for p in self.current]) > 0.5
            y_pred = np.concatenate([p[1] for p in self.current]) > 0.5
            if self.kind == "accuracy":
                value = float(np.mean(y_true == y_pred))
            else:
                from sklearn.metrics import f1_score

                value = float(f1_score(y_true, y_pred, zero_division=0))
        return _tf().constant(value, dtype="float32")

    def reset_state(self) -> None:
        self.resets.append(len(self.updates))
        self.current = []

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()


@contextlib.contextmanager
def _injected(namespace: dict[str, Any], **objects: Any) -> Iterator[None]:
    """Temporarily bind ``objects`` as globals of the notebook, restoring them afterwards."""
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


def _quiet_call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn`` with its printed progress captured (kept out of the grade cell)."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


def _accepts(fn: Callable[..., Any], names: tuple[str, ...]) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return all(name in params for name in names)


# ------------------------------------------------------------------------------ F1Score


def _sk_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y_true.ravel().astype(int), y_pred.ravel().astype(int),
                          zero_division=0))


def _require_tracked(metric: Any) -> None:
    if not list(metric.variables):
        fail(
            "F1Score().variables is empty: Keras does not know the metric's counters",
            "the counters tp, fp, tn, fn listed in metric.variables",
            "the counters were created with tf.Variable instead of "
            "self.add_variable(shape=(), initializer='zeros', name=...). Keras 3 only tracks "
            "variables made with add_variable (Keras 2 called it add_weight)",
        )


def _counts(y_true: np.ndarray, y_pred: np.ndarray) -> str:
    t, p = y_true.ravel() > 0.5, y_pred.ravel() > 0.5
    return (f"tp={int(np.sum(t & p))}, fp={int(np.sum(~t & p))}, "
            f"tn={int(np.sum(~t & ~p))}, fn={int(np.sum(t & ~p))}")


def _f1_cases(rng: np.random.Generator) -> list[tuple[str, list[tuple[np.ndarray, np.ndarray]]]]:
    def col(values: Any) -> np.ndarray:
        return np.asarray(values, dtype="float32").reshape(-1, 1)

    cases = [
        ("a small example", [(col([1, 1, 0, 0, 1]), col([1, 0, 1, 0, 1]))]),
        ("all labels and predictions negative (precision and recall undefined)",
         [(col([0, 0, 0, 0]), col([0, 0, 0, 0]))]),
        ("no true positive (precision = recall = 0)",
         [(col([1, 1, 0]), col([0, 0, 1])), (col([1, 0]), col([0, 1]))]),
        ("every prediction right", [(col([1, 0, 1, 1]), col([1, 0, 1, 1]))]),
    ]
    for n_batches in (1, 3, 6):
        batches = []
        for _ in range(n_batches):
            size = int(rng.integers(1, 40))
            y_true = col(rng.integers(0, 2, size))
            flip = rng.random(size) < rng.uniform(0.1, 0.6)
            batches.append((y_true, col(np.where(flip, 1 - y_true.ravel(), y_true.ravel()))))
        cases.append((f"{n_batches} random batches accumulated", batches))
    return cases


def _f1_hint(observed: float, expected: float, batches: list[tuple[np.ndarray, np.ndarray]]
             ) -> str:
    last = _sk_f1(*batches[-1])
    if expected > 0 and np.isclose(observed, expected / 2, atol=F1_ATOL):
        return ("the factor 2 is missing: F1 = 2 * precision * recall / (precision + recall)")
    if len(batches) > 1 and np.isclose(observed, last, atol=F1_ATOL) and not np.isclose(
            last, expected, atol=F1_ATOL):
        return ("only the last update_state call counts: accumulate the counters with "
                "assign_add instead of overwriting them with assign")
    if expected == 0 and np.isclose(observed, 1.0):
        return ("precision and recall are set to 1 when undefined (the original notebook's "
                "convention); here they are 0 when undefined, as in scikit-learn's "
                "f1_score(zero_division=0): use tf.math.divide_no_nan")
    return ("result() should return 2 * precision * recall / (precision + recall) of the "
            "counts accumulated by every update_state call since the last reset, with "
            "precision = tp / (tp + fp) and recall = tp / (tp + fn)")


def check_f1_score(F1Score: type) -> None:  # noqa: N803 (the notebook's class name)
    """F1Score accumulates tp/fp/fn over update_state calls and matches scikit-learn."""
    self_test()  # the comparison tools must be the real ones (see _common)
    metric = F1Score()
    _require_tracked(metric)
    if metric.name != "f1_score":
        fail(f"F1Score().name is {metric.name!r}", "'f1_score'",
             "keep the original signature __init__(self, name='f1_score', **kwargs) and pass "
             "name on to super().__init__")
    rng = np.random.default_rng(SEED)
    for what, batches in _f1_cases(rng):
        metric = F1Score()
        for y_true, y_pred in batches:
            metric.update_state(y_true, y_pred)
        observed = float(to_numpy(metric.result()))
        y_all = np.concatenate([b[0] for b in batches])
        p_all = np.concatenate([b[1] for b in batches])
        expected = _sk_f1(y_all, p_all)
        if np.isnan(observed):
            fail(f"F1Score().result() is nan for {what} ({_counts(y_all, p_all)})",
                 f"{expected:g}",
                 "precision + recall is 0 here, so the formula divides by zero: use "
                 "tf.math.divide_no_nan (a Python `if` on tensors is not the way either)")
        if not np.isclose(observed, expected, atol=F1_ATOL):
            fail(f"F1Score().result() is {observed:.6f} for {what} ({_counts(y_all, p_all)})",
                 f"{expected:.6f} (scikit-learn f1_score, zero_division=0, atol={F1_ATOL:g})",
                 _f1_hint(observed, expected, batches))


def check_f1_reset_state(F1Score: type) -> None:  # noqa: N803
    """reset_state() zeroes every counter; the metric then counts only new updates."""
    self_test()  # the comparison tools must be the real ones (see _common)
    metric = F1Score()
    _require_tracked(metric)
    rng = np.random.default_rng(SEED + 1)
    y1 = rng.integers(0, 2, 30).astype("float32").reshape(-1, 1)
    p1 = np.where(rng.random((30, 1)) < 0.3, 1 - y1, y1).astype("float32")
    metric.update_state(y1, p1)
    metric.reset_state()
    left = [f"{getattr(v, 'name', '?')}={float(to_numpy(v)):g}" for v in metric.variables
            if np.any(to_numpy(v) != 0)]
    if left:
        fail(f"after reset_state() these counters are not zero: {', '.join(left)}",
             "every counter in metric.variables back to 0",
             "reset_state must assign 0 to every counter (tp, fp, tn and fn); "
             "`for v in self.variables: v.assign(0)` does them all")
    after = float(to_numpy(metric.result()))
    if not np.isclose(after, 0.0, atol=F1_ATOL):
        fail(f"result() right after reset_state() is {after:g}", "0 (no data counted)",
             "result() must be 0 when no example has been counted (use tf.math.divide_no_nan)")
    y2 = rng.integers(0, 2, 25).astype("float32").reshape(-1, 1)
    p2 = np.where(rng.random((25, 1)) < 0.3, 1 - y2, y2).astype("float32")
    metric.update_state(y2, p2)
    observed, expected = float(to_numpy(metric.result())), _sk_f1(y2, p2)
    if not np.isclose(observed, expected, atol=F1_ATOL):
        fail(f"after reset_state() and one new update, result() is {observed:.6f}",
             f"{expected:.6f}, the F1 of the new update only",
             "reset_state must forget everything counted before it")


# ------------------------------------------------------------------------ apply_gradient


def _sgd_step(w: np.ndarray, g: np.ndarray, config: dict[str, Any]) -> np.ndarray:
    return w - config["learning_rate"] * g


def _rmsprop_step(w: np.ndarray, g: np.ndarray, config: dict[str, Any]) -> np.ndarray:
    """First RMSprop step from zero velocity (Keras 3: epsilon inside the square root)."""
    velocity = (1 - config["rho"]) * g * g
    return w - config["learning_rate"] * g / np.sqrt(velocity + config["epsilon"])


def _broadcast_bce(y: np.ndarray, p: np.ndarray, eps: float = 1e-7) -> float:
    """BCE of (n,) labels against (n, 1) predictions broadcast to (n, n): the shape bug."""
    p = np.clip(p.astype(np.float64), eps, 1 - eps)
    y = y.ravel()[None, :].astype(np.float64)
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


def check_apply_gradient(apply_gradient: Callable[..., Any]) -> None:
    """One call = loss on the pre-update weights and exactly one optimizer step on every weight."""
    self_test()  # the comparison tools must be the real ones (see _common)
    tf = _tf()
    cases = [
        ("SGD", lambda: tf.keras.optimizers.SGD(learning_rate=0.1), _sgd_step),
        ("RMSprop", lambda: tf.keras.optimizers.RMSprop(learning_rate=0.01), _rmsprop_step),
    ]
    for index, (opt_name, make_optimizer, step) in enumerate(cases):
        x, y = _problem(SEED + 10 + index, n=24)
        model = _model(x.shape[1], seed=SEED + 20 + index)
        reference = _clone(model)
        optimizer = make_optimizer()
        loss_object = tf.keras.losses.BinaryCrossentropy()
        with tf.GradientTape() as tape:
            ref_probs = reference(x)
            ref_loss = loss_object(y, ref_probs)
        grads = tape.gradient(ref_loss, reference.trainable_weights)
        config = optimizer.get_config()
        expected = [step(w.numpy().astype(np.float64), g.numpy().astype(np.float64), config)
                    for w, g in zip(reference.trainable_weights, grads, strict=True)]
        before = snapshot(model.trainable_weights)

        out = apply_gradient(optimizer, loss_object, model, tf.constant(x), tf.constant(y))
        if not isinstance(out, tuple | list) or len(out) != 2:
            fail(f"apply_gradient returned {type(out).__name__}",
                 "a pair (logits, loss_value)", "end with `return logits, loss_value`")
        logits, loss_value = out
        check_close(logits, ref_probs, f"logits returned ({opt_name} case)",
                    "logits must be model(x) computed inside the tape, before the update",
                    rtol=LOSS_RTOL, atol=LOSS_ATOL)
        observed_loss = float(np.asarray(to_numpy(loss_value)).mean())
        if np.ndim(to_numpy(loss_value)) != 0 or not np.isclose(
                observed_loss, float(ref_loss), rtol=LOSS_RTOL, atol=LOSS_ATOL):
            hint = ("loss_value must be loss_object(y_true=y, y_pred=logits), the mean loss of "
                    "the batch on the weights before the update")
            if np.isclose(observed_loss, _broadcast_bce(y, ref_probs.numpy()), rtol=1e-4):
                hint = ("labels of shape (n,) were compared with predictions of shape (n, 1): "
                        "they broadcast to (n, n) and the loss averages all n*n pairs. Keep "
                        "labels and predictions the same shape (n, 1)")
            fail(f"loss_value is {to_numpy(loss_value)!s:.60} ({opt_name} case)",
                 f"the scalar {float(ref_loss):.6f} (rtol={LOSS_RTOL:g})", hint)
        moved = changed(before, model.trainable_weights)
        names = _weight_names(model)
        if not any(moved):
            fail(f"the weights did not change: no weight moved after apply_gradient ({opt_name} "
                 "case)",
                 "every trainable weight updated by one optimizer step",
                 "was optimizer.apply_gradients(zip(gradients, model.trainable_weights)) "
                 "called?")
        if not all(moved):
            still = [n for n, m in zip(names, moved, strict=True) if not m]
            fail(f"these weights did not change: {', '.join(still)} ({opt_name} case)",
                 "every trainable weight updated",
                 "gradients were taken or applied for only some of the weights: use "
                 "model.trainable_weights in both tape.gradient and apply_gradients")
        for name, var, exp in zip(names, model.trainable_weights, expected, strict=True):
            check_close(var.numpy(), exp, f"weight {name} after one {opt_name} step",
                        "apply the optimizer exactly once, to the gradients of this batch's "
                        "loss with respect to model.trainable_weights",
                        rtol=WEIGHT_RTOL, atol=WEIGHT_ATOL)


# --------------------------------------------------------------- reference implementations


def ref_apply_gradient(optimizer: Any, loss_object: Any, model: Any, x: Any, y: Any
                       ) -> tuple[Any, Any]:
    tf = _tf()
    with tf.GradientTape() as tape:
        logits = model(x)
        loss_value = loss_object(y, logits)
    gradients = tape.gradient(loss_value, model.trainable_weights)
    optimizer.apply_gradients(zip(gradients, model.trainable_weights, strict=True))
    return logits, loss_value


def _replay_epoch(model: Any, optimizer: Any, loss_object: Any,
                  batches: list[tuple[np.ndarray, np.ndarray]]
                  ) -> tuple[list[float], list[np.ndarray]]:
    """Reference epoch: per-batch losses and pre-step probabilities."""
    losses, probs = [], []
    for x, y in batches:
        logits, loss_value = ref_apply_gradient(optimizer, loss_object, model, x, y)
        losses.append(float(loss_value))
        probs.append(logits.numpy().ravel())
    return losses, probs


# ---------------------------------------------------------------------- shared loop checks


def _losses_list(losses: Any, n_batches: int, fn_name: str) -> list[float]:
    try:
        values = [float(np.asarray(to_numpy(v)).mean()) for v in losses]
        shapes = [np.ndim(to_numpy(v)) for v in losses]
    except TypeError:
        fail(f"{fn_name} returned {type(losses).__name__}",
             f"a list with one loss per batch ({n_batches} batches)",
             "collect each batch's loss_value in a list and return the list")
    if len(values) != n_batches or any(shapes):
        fail(f"{fn_name} returned {len(values)} value(s) for {n_batches} batches",
             "one loss per batch (a scalar each)",
             "append loss_value once per batch inside the loop and return the whole list "
             "(not only the last loss, nor their mean)")
    return values


def _check_metric_updates(metric: RecordingMetric, arg_name: str, fn_name: str,
                          batches: list[tuple[np.ndarray, np.ndarray]],
                          probs: list[np.ndarray], when: str) -> None:
    """Every batch updated ``metric`` once with its labels and its rounded predictions."""
    if len(metric.updates) != len(batches):
        fail(f"{fn_name} called {arg_name}.update_state {len(metric.updates)} time(s) for "
             f"{len(batches)} batches",
             "one update per batch, covering the whole epoch",
             f"update {arg_name} inside the batch loop, once per batch")
    for index, ((y_true, y_pred), (_, y), p) in enumerate(
            zip(metric.updates, batches, probs, strict=True)):
        if y_true.shape != y.ravel().shape or not np.array_equal(y_true, y.ravel()):
            fail(f"{arg_name}.update_state got y_true {y_true[:6]} for batch {index}",
                 f"that batch's labels {y.ravel()[:6]}",
                 "pass the batch labels as the first argument: update_state(y, predictions)")
        if y_pred.shape != p.shape:
            fail(f"{arg_name}.update_state got {y_pred.size} predictions for batch {index}",
                 f"{p.size}", "pass the predictions of this batch")
        if not np.all(np.isin(y_pred, (0.0, 1.0))):
            odd = y_pred[~np.isin(y_pred, (0.0, 1.0))][:3]
            fail(f"{arg_name}.update_state got unrounded predictions such as {odd}",
                 "rounded predictions, each 0 or 1",
                 "round the probabilities with tf.round(logits) before updating the metrics")
        clear = np.abs(p - 0.5) > BOUNDARY
        if not np.array_equal(y_pred[clear], np.round(p[clear])):
            wrong = int(np.sum(y_pred[clear] != np.round(p[clear])))
            fail(f"{arg_name}.update_state got {wrong} prediction(s) in batch {index} that "
                 f"differ from tf.round of the model's output {when}",
                 "tf.round(logits) of this very batch",
                 "update the metrics with the rounded logits of this batch "
                 f"{when}, not with predictions recomputed after the weights changed or from "
                 "another batch")


# -------------------------------------------------------------- train_data_for_one_epoch


def _flip_problem() -> tuple[Any, np.ndarray, np.ndarray]:
    """A linear model just below 0.5 and positive labels: one SGD step flips its predictions,
    so predictions taken after the step differ from the ones the loss was computed on."""
    tf = _tf()
    rng = np.random.default_rng(SEED + 30)
    x = (0.1 * rng.normal(size=(16, 4))).astype("float32")
    y = np.ones((16, 1), dtype="float32")
    inputs = tf.keras.Input(shape=(4,))
    outputs = tf.keras.layers.Dense(
        1, activation="sigmoid", kernel_initializer="zeros",
        bias_initializer=tf.keras.initializers.Constant(-0.2))(inputs)
    return tf.keras.Model(inputs, outputs), x, y


def check_train_data_for_one_epoch(train_data_for_one_epoch: Callable[..., Any]) -> None:
    """One loss per batch as the reference replay gives, both metrics updated every batch with
    the rounded pre-step predictions, one optimizer step per batch.

    The notebook's ``apply_gradient`` is replaced by a reference for the duration of the check,
    so this grades the loop only.
    """
    self_test()  # the comparison tools must be the real ones (see _common)
    tf = _tf()
    x, y = _problem(SEED + 40, n=70)
    flip_model, fx, fy = _flip_problem()
    scenarios = [
        ("RMSprop", _model(x.shape[1], seed=SEED + 41), x, y, 16,
         tf.keras.optimizers.RMSprop(learning_rate=0.01)),
        ("SGD", flip_model, fx, fy, 8, tf.keras.optimizers.SGD(learning_rate=2.0)),
    ]
    namespace = getattr(train_data_for_one_epoch, "__globals__", {})
    for opt_name, model, xs, ys, batch, optimizer in scenarios:
        reference = _clone(model)
        loss_object = tf.keras.losses.BinaryCrossentropy()
        batches = _batches(xs, ys, batch)
        ref_losses, ref_probs = _replay_epoch(reference, _fresh_optimizer(optimizer),
                                              loss_object, batches)
        acc = RecordingMetric("binary_accuracy", "accuracy")
        f1 = RecordingMetric("f1_score", "f1")
        with _injected(namespace, apply_gradient=ref_apply_gradient):
            losses = _quiet_call(train_data_for_one_epoch, _dataset(xs, ys, batch), optimizer,
                                 loss_object, model, acc, f1, verbose=False)
        values = _losses_list(losses, len(batches), "train_data_for_one_epoch")
        check_close(values, ref_losses, f"per-batch losses ({opt_name} case)",
                    "each entry is the loss_value apply_gradient returned for that batch, "
                    "with one apply_gradient call per batch",
                    rtol=LOSS_RTOL, atol=LOSS_ATOL)
        for metric, arg_name in ((acc, "train_acc_metric"), (f1, "train_f1score_metric")):
            _check_metric_updates(metric, arg_name, "train_data_for_one_epoch", batches,
                                  ref_probs, "before the step")
        for name, var, ref in zip(_weight_names(model), model.trainable_weights,
                                  reference.trainable_weights, strict=True):
            check_close(var.numpy(), ref.numpy(), f"weight {name} after the epoch",
                        "one optimizer step per batch (one apply_gradient call each)",
                        rtol=WEIGHT_RTOL, atol=WEIGHT_ATOL)


# --------------------------------------------------------------------- perform_validation


def ref_perform_validation_factory(namespace: dict[str, Any]) -> Callable[..., list[Any]]:
    """A reference perform_validation whose missing arguments come from ``namespace``."""

    def perform_validation(test_dataset: Any = None, model: Any = None,
                           loss_object: Any = None, val_acc_metric: Any = None,
                           val_f1score_metric: Any = None) -> list[Any]:
        tf = _tf()
        given = dict(zip(VALIDATION_NAMES, (test_dataset, model, loss_object, val_acc_metric,
                                            val_f1score_metric), strict=True))
        args = {k: namespace[k] if v is None else v for k, v in given.items()}
        losses = []
        for x_val, y_val in args["test_dataset"]:
            val_logits = args["model"](x_val)
            losses.append(args["loss_object"](y_val, val_logits))
            predictions = tf.round(val_logits)
            args["val_acc_metric"].update_state(y_val, predictions)
            args["val_f1score_metric"].update_state(y_val, predictions)
        return losses

    return perform_validation


def check_perform_validation(perform_validation: Callable[..., Any]) -> None:
    """Per-batch validation losses, metrics updated with rounded predictions, no training.

    Works with the original no-argument version (the check's objects are injected as the
    notebook globals of the same names) and with the version taking explicit arguments.
    """
    self_test()  # the comparison tools must be the real ones (see _common)
    tf = _tf()
    x, y = _problem(SEED + 50, n=45)
    model = _model(x.shape[1], seed=SEED + 51)
    loss_object = tf.keras.losses.BinaryCrossentropy()
    batches = _batches(x, y, 16)
    probs = [model(xb).numpy().ravel() for xb, _ in batches]
    ref_losses = [float(loss_object(yb, model(xb))) for xb, yb in batches]
    acc = RecordingMetric("binary_accuracy", "accuracy")
    f1 = RecordingMetric("f1_score", "f1")
    objects = dict(zip(VALIDATION_NAMES, (_dataset(x, y, 16), model, loss_object, acc, f1),
                       strict=True))
    before = snapshot(model.trainable_weights)
    namespace = getattr(perform_validation, "__globals__", {})
    with _injected(namespace, **objects):
        if _accepts(perform_validation, VALIDATION_NAMES):
            losses = _quiet_call(perform_validation, **objects)
        else:
            losses = _quiet_call(perform_validation)
    if any(changed(before, model.trainable_weights)):
        fail("perform_validation changed the model's weights",
             "validation leaves the weights alone",
             "validation only runs model(x_val): no tape, no optimizer step")
    values = _losses_list(losses, len(batches), "perform_validation")
    check_close(values, ref_losses, "per-batch validation losses",
                "each entry is loss_object(y_true=y_val, y_pred=model(x_val)) of one batch",
                rtol=LOSS_RTOL, atol=LOSS_ATOL)
    for metric, arg_name in ((acc, "val_acc_metric"), (f1, "val_f1score_metric")):
        _check_metric_updates(metric, arg_name, "perform_validation", batches, probs,
                              "on this batch")


# ---------------------------------------------------------------------------- train_model


def _reset_problems(metric: RecordingMetric, arg_name: str, epochs: int, per_epoch: int
                    ) -> list[str]:
    """What is wrong with when ``metric`` was read and reset, as sentences (empty if fine)."""
    if len(metric.updates) != epochs * per_epoch:
        return [f"{arg_name} was updated {len(metric.updates)} times over {epochs} epochs of "
                f"{per_epoch} batches (expected {epochs * per_epoch})"]
    for epoch in range(1, epochs + 1):
        reads = [since for since, total in metric.reads if total == epoch * per_epoch]
        if not reads:
            return [f"{arg_name}.result() was not read after epoch {epoch}"]
        since = reads[0]
        if since == per_epoch:
            continue
        if since == 0:
            return [f"{arg_name} was reset before its result was read (epoch {epoch} reports "
                    f"an empty metric): read result() first, then reset_state()"]
        if since > per_epoch:
            if not metric.resets:
                return [f"{arg_name} was never reset: the value reported for epoch {epoch} "
                        f"covers {since // per_epoch} epochs instead of epoch {epoch} only"]
            return [f"{arg_name} was not reset after every epoch: the value reported for "
                    f"epoch {epoch} covers {since} batches instead of {per_epoch}"]
        return [f"{arg_name} was reset during the epoch: the value reported for epoch "
                f"{epoch} covers only its last {since} of {per_epoch} batches"]
    return []


def check_train_model(train_model: Callable[..., Any]) -> None:
    """Each epoch reports metric values of that epoch only (all four metrics reset every epoch)
    and returns one mean training and one mean validation loss per epoch.

    ``train_data_for_one_epoch`` and ``perform_validation`` are replaced by references for the
    duration of the check, so this grades the epoch loop only.
    """
    self_test()  # the comparison tools must be the real ones (see _common)
    tf = _tf()
    epochs, batch = 3, 16
    x, y = _problem(SEED + 60, n=40)
    xv, yv = _problem(SEED + 61, n=20)
    n_train, n_val = -(-len(x) // batch), -(-len(xv) // batch)
    model = _model(x.shape[1], seed=SEED + 62)
    namespace = getattr(train_model, "__globals__", {})
    metrics = {
        "train_acc_metric": RecordingMetric("binary_accuracy", "accuracy"),
        "train_f1score_metric": RecordingMetric("f1_score", "f1"),
        "val_acc_metric": RecordingMetric("binary_accuracy", "accuracy"),
        "val_f1score_metric": RecordingMetric("f1_score", "f1"),
    }
    objects = {
        "train_dataset": _dataset(x, y, batch), "test_dataset": _dataset(xv, yv, batch),
        "model": model, "optimizer": tf.keras.optimizers.RMSprop(learning_rate=0.01),
        "loss_object": tf.keras.losses.BinaryCrossentropy(), **metrics,
    }
    train_calls: list[list[float]] = []
    val_calls: list[list[float]] = []
    ref_validation = ref_perform_validation_factory(namespace)

    def train_data_for_one_epoch(train_dataset: Any, optimizer: Any, loss_object: Any,
                                 model: Any, train_acc_metric: Any, train_f1score_metric: Any,
                                 verbose: bool = True) -> list[Any]:
        losses = []
        for x_batch, y_batch in train_dataset:
            logits, loss_value = ref_apply_gradient(optimizer, loss_object, model,
                                                    x_batch, y_batch)
            losses.append(loss_value)
            train_acc_metric.update_state(y_batch, tf.round(logits))
            train_f1score_metric.update_state(y_batch, tf.round(logits))
        train_calls.append([float(v) for v in losses])
        return losses

    def perform_validation(*args: Any, **kwargs: Any) -> list[Any]:
        losses = ref_validation(*args, **kwargs)
        val_calls.append([float(v) for v in losses])
        return losses

    with _injected(namespace, train_data_for_one_epoch=train_data_for_one_epoch,
                   perform_validation=perform_validation, **objects):
        out = _quiet_call(
            train_model, epochs, objects["train_dataset"], objects["test_dataset"], model,
            objects["optimizer"], objects["loss_object"], *metrics.values())

    problems: list[str] = []
    for arg_name, metric in metrics.items():
        per_epoch = n_train if arg_name.startswith("train") else n_val
        problems += _reset_problems(metric, arg_name, epochs, per_epoch)
    if problems:
        fail("; ".join(problems),
             "each epoch's result() read after that epoch's updates, then all four metrics "
             "reset",
             "at the end of every epoch, after reading train_acc_metric, train_f1score_metric, "
             "val_acc_metric and val_f1score_metric, call reset_state() on each of the four")

    if not isinstance(out, tuple | list) or len(out) != 2:
        fail(f"train_model returned {type(out).__name__}",
             "(epochs_train_losses, epochs_val_losses)",
             "return the two lists of per-epoch mean losses")
    for what, values, calls in (("epochs_train_losses", out[0], train_calls),
                                ("epochs_val_losses", out[1], val_calls)):
        values = [float(np.asarray(to_numpy(v)).mean()) for v in values]
        if len(values) != epochs:
            fail(f"{what} has {len(values)} entries after {epochs} epochs",
                 "one mean loss per epoch", f"append the epoch's mean loss to {what} once "
                 "per epoch")
        if len(calls) == epochs:
            check_close(values, [np.mean(c) for c in calls], what,
                        "each entry is np.mean of the per-batch losses of that epoch",
                        rtol=LOSS_RTOL, atol=LOSS_ATOL)
