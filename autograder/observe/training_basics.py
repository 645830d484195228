"""Observers of notebook 1 (``training_basics``): run the student's functions, record facts.

Each function is named after the grade cell whose hidden part calls it. Where an exercise
builds on another one, the other function is replaced, for the duration of the call only, by a
stub that replays the values the judge put in the challenge (see :class:`LossReplay` and
:class:`TrainReplay`), so a mistake in ``loss`` costs points in the loss cell only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import tensorflow as tf

from autograder.observe._io import Challenge, ask, call, observer

# The functions differentiated by the derivative cell, by name (the judge knows their
# derivatives; these are only the functions themselves).
FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "cubic": lambda x: x**3 - 2.0 * x + 1.0,
    "sin": tf.sin,
    "exp": tf.exp,
    "exp_sin_square": lambda x: tf.exp(tf.sin(x**2)),
}


@contextmanager
def replaced(fn: Callable[..., Any], name: str, stand_in: Any) -> Iterator[None]:
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


class CheckModel:
    """The notebook's linear model ``w * x + b`` plus a variable that train must not touch."""

    def __init__(self, w: float, b: float) -> None:
        self.w = tf.Variable(w, dtype=tf.float32)
        self.b = tf.Variable(b, dtype=tf.float32)
        self.untouched = tf.Variable([0.5, -0.5], dtype=tf.float32)

    def __call__(self, x: Any) -> tf.Tensor:
        return self.w * x + self.b


class LossReplay:
    """Stands in for ``loss`` inside ``train``: the judge's oracle supplies the value.

    The stub sends the two tensors it was called with; the oracle answers with the reference
    loss value and its gradient w.r.t. the predictions only if they are ``model(inputs)``
    before the step and the outputs (in either order), and the stub returns that value with
    that gradient (``tf.custom_gradient``, so the student's tape works). Otherwise it returns 0
    with a zero gradient. Every call is logged.
    """

    def __init__(self, ch: Challenge, case: int) -> None:
        self.ch, self.case = ch, case
        self.calls: list[dict] = []

    def __call__(self, a: Any, b: Any) -> tf.Tensor:
        reply = ask(self.ch, {"case": self.case, "first": a, "second": b})
        which = -1 if reply is None else (1 if reply.get("swapped") else 0)
        entry: dict[str, Any] = {"matched": which >= 0, "swapped": which == 1}
        self.calls.append(entry)
        shape = tf.shape(a if which != 1 else b)
        value = float(reply["value"]) if reply else 0.0
        gradient = (tf.constant(reply["gradient"], tf.float32) if reply
                    else tf.zeros(shape, tf.float32))

        @tf.custom_gradient
        def replay(first: tf.Tensor, second: tf.Tensor) -> Any:
            def grad(upstream: tf.Tensor) -> Any:
                g = upstream * tf.reshape(gradient, tf.shape(first if which != 1 else second))
                zero_first, zero_second = tf.zeros_like(first), tf.zeros_like(second)
                return (g, zero_second) if which != 1 else (zero_first, g)

            return tf.constant(value, dtype=tf.float32), grad

        return replay(tf.cast(a, tf.float32), tf.cast(b, tf.float32))


def _train_once(ch: Challenge, train: Callable[..., Any], case: int) -> dict:
    w0, b0, lr = (float(ch.params[f"{k}{case}"]) for k in ("w", "b", "lr"))
    xs, ys = ch.arrays[f"xs{case}"], ch.arrays[f"ys{case}"]
    stub = LossReplay(ch, case)
    model = CheckModel(w0, b0)
    with replaced(train, "loss", stub):
        returned, error = call(train, model, tf.constant(xs), tf.constant(ys), lr)
    return {"returned": returned if error is None else error, "w": model.w, "b": model.b,
            "untouched": model.untouched, "loss_calls": stub.calls}


def _train_cases(ch: Challenge, train: Callable[..., Any]) -> dict:
    return {"cases": [_train_once(ch, train, case) for case in range(int(ch["cases"]))]}


@observer("derivative_matches_analytic")
def derivative_matches_analytic(ch: Challenge, derivative: Callable[..., Any]) -> dict:
    """derivative(f, x) for each function and point, x as a Python float and as a tensor."""
    values = []
    for name in ch["functions"]:
        for point in ch["points"]:
            for kind, x in (("float", float(point)),
                            ("tensor", tf.constant(float(point), tf.float32))):
                value, error = call(derivative, FUNCTIONS[name], x)
                values.append({"function": name, "point": float(point), "kind": kind,
                               "value": value if error is None else error})
    return {"values": values}


@observer("loss_is_mean_squared_error")
def loss_is_mean_squared_error(ch: Challenge, loss: Callable[..., Any]) -> dict:
    """loss(predicted, target) on each pair, and its gradient w.r.t. ``predicted``."""
    values = []
    for index in range(int(ch["pairs"])):
        p, t = ch.arrays[f"p{index}"].astype(np.float32), ch.arrays[f"t{index}"].astype(np.float32)
        value, error = call(loss, tf.constant(p), tf.constant(t))
        values.append(value if error is None else error)
    p = tf.Variable(ch.arrays["grad_p"].astype(np.float32))
    t = tf.constant(ch.arrays["grad_t"].astype(np.float32))

    def differentiate() -> Any:
        with tf.GradientTape() as tape:
            value = loss(p * 1.0, t)
        return tape.gradient(value, p)

    gradient, error = call(differentiate)
    return {"values": values, "gradient": gradient if error is None else error}


@observer("train_updates_w_and_b")
def train_updates_w_and_b(ch: Challenge, train: Callable[..., Any]) -> dict:
    """One ``train`` step per case: w, b and the untouched variable after it."""
    return _train_cases(ch, train)


@observer("train_returns_loss_before_update")
def train_returns_loss_before_update(ch: Challenge, train: Callable[..., Any]) -> dict:
    """One ``train`` step per case: what it returned."""
    return _train_cases(ch, train)


class TrainReplay:
    """Stands in for ``train`` inside ``fit``: the judge's oracle supplies each step.

    The stub sends the model's current w and b, the data and the learning rate; the oracle
    answers with w and b after the reference step and the loss before it only if the model is
    where the previous step left it. The stub then sets the model and returns that loss;
    refused or unanswered calls return NaN and leave the model alone. Every call is logged.
    """

    def __init__(self, model: CheckModel, ch: Challenge):
        self.model, self.ch = model, ch
        self.calls: list[dict] = []

    def __call__(self, model: Any, inputs: Any, outputs: Any, learning_rate: Any) -> Any:
        target = model if hasattr(model, "w") and hasattr(model, "b") else self.model
        try:
            lr = float(learning_rate)
        except (TypeError, ValueError):
            lr = None
        reply = ask(self.ch, {"w": target.w, "b": target.b, "inputs": inputs,
                              "outputs": outputs, "learning_rate": lr})
        self.calls.append({"own_model": model is self.model, "learning_rate": lr,
                           "answered": reply is not None})
        if reply is None:
            return tf.constant(float("nan"))
        target.w.assign(float(reply["w"]))
        target.b.assign(float(reply["b"]))
        return tf.constant(float(reply["loss"]), tf.float32)


@observer("fit_records_history")
def fit_records_history(ch: Challenge, fit: Callable[..., Any]) -> dict:
    """fit(model, inputs, outputs, epochs, learning_rate) with train replayed."""
    xs, ys = ch.arrays["xs"].astype(np.float32), ch.arrays["ys"].astype(np.float32)
    model = CheckModel(float(ch["w0"]), float(ch["b0"]))
    stub = TrainReplay(model, ch)
    with replaced(fit, "train", stub):
        result, error = call(fit, model, tf.constant(xs), tf.constant(ys), int(ch["epochs"]),
                             float(ch["lr"]))
    histories: Any = error
    if error is None:
        try:
            histories = [[float(np.asarray(v).ravel()[0]) if not hasattr(v, "numpy")
                          else float(np.asarray(v.numpy()).ravel()[0]) for v in history]
                         for history in result]
        except Exception as exc:  # noqa: BLE001 - the judge explains what was returned
            histories = {"__type__": f"{type(result).__name__} ({type(exc).__name__}: {exc})"}
    return {"histories": histories, "w": model.w, "b": model.b, "train_calls": stub.calls}
