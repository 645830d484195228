"""Hidden-test checks of the notebook ``training_basics``.

Every expected value is computed here at run time from an independent reference: analytic
derivatives written in numpy, the mean squared error and its gradient in numpy (float64), and
a numpy gradient-descent loop. The data come from the check's own generator; any seed works,
because nothing is compared with a stored number.

When an answer is wrong, the observation is compared with what the typical mistakes would
produce (sum instead of mean, wrong sign, swapped gradients, ...) so the message names the
mistake.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from autograder.checks._common import (
    CheckFailure,
    check_close,
    fail,
    is_close,
    self_test,
    to_numpy,
)

SEED = 2024  # any seed works: expected values are computed from the generated data
RTOL = 1e-4  # float32 arithmetic in the student's code against a float64 reference
ATOL = 1e-5


# --------------------------------------------------------------------------- derivative
@dataclass(frozen=True)
class _Function:
    name: str
    tf_fn: Callable[[Any], Any]
    np_fn: Callable[[np.ndarray], np.ndarray]
    np_derivative: Callable[[np.ndarray], np.ndarray]


FUNCTIONS = (
    _Function("x**3 - 2*x + 1", lambda x: x**3 - 2.0 * x + 1.0,
              lambda x: x**3 - 2.0 * x + 1.0, lambda x: 3.0 * x**2 - 2.0),
    _Function("sin(x)", tf.sin, np.sin, np.cos),
    _Function("exp(x)", tf.exp, np.exp, np.exp),
    _Function("exp(sin(x**2))", lambda x: tf.exp(tf.sin(x**2)),
              lambda x: np.exp(np.sin(x**2)),
              lambda x: np.exp(np.sin(x**2)) * np.cos(x**2) * 2.0 * x),
)
POINTS = (-1.5, 0.5, 2.0)


def _as_scalar(value: Any, what: str, hint: str) -> float:
    """The single number in ``value``; fails if it is None, a callable or has several values."""
    if value is None:
        fail(f"{what} is None", "a number", hint)
    if callable(value) and not hasattr(value, "numpy"):
        fail(f"{what} is a function ({value!r})", "a number", "return the value, not a function")
    try:
        arr = to_numpy(value)
    except (TypeError, ValueError) as exc:
        fail(f"{what} is {type(value).__name__} ({exc})", "a number or a 0-d tensor", hint)
    if arr.size != 1:
        fail(f"{what} has shape {arr.shape}", "a single number (shape ())", hint)
    return float(arr.ravel()[0])


def check_derivative(derivative: Callable[[Callable, Any], Any]) -> None:
    """Check ``derivative(f, x)`` against analytic derivatives, for x a float and a tensor."""
    self_test()  # the comparison tools must be the real ones (see _common)
    for fn in FUNCTIONS:
        for point in POINTS:
            for x, label in ((point, f"{point!r} (a Python float)"),
                             (tf.constant(point, tf.float32), f"tf.constant({point!r})")):
                what = f"derivative(f, {label}) for f(x) = {fn.name}"
                try:
                    value = derivative(fn.tf_fn, x)
                except Exception as exc:  # noqa: BLE001 - reported to the student
                    fail(f"{what} raised {type(exc).__name__}: {exc}",
                         f"df/dx = {fn.np_derivative(point):.6g}",
                         "x may be a Python float: convert it with tf.convert_to_tensor(x, "
                         "dtype=tf.float32) (or tf.constant) and call tape.watch(x)")
                observed = _as_scalar(
                    value, what,
                    "tape.gradient returned None because x was not watched: call "
                    "tape.watch(x) inside the `with tf.GradientTape() as tape:` block and "
                    "compute y = f(x) inside it too")
                expected = float(fn.np_derivative(point))
                if np.isclose(observed, expected, rtol=RTOL, atol=ATOL):
                    continue
                f_value = float(fn.np_fn(point))
                if np.isclose(observed, f_value, rtol=RTOL, atol=ATOL):
                    fail(f"{what} is {observed:.6g}, the function value f({point})",
                         f"the derivative {expected:.6g}",
                         "derivative returns the function value: return tape.gradient(y, x), "
                         "not y")
                fail(f"{what} is {observed:.6g}", f"{expected:.6g} (rtol={RTOL:g})",
                     "compute y = f(x) inside the tape and return tape.gradient(y, x)")


# --------------------------------------------------------------------------- loss
LOSS_SHAPES = ((9,), (4, 5), (1,), ())


def _loss_mistakes(p: np.ndarray, t: np.ndarray) -> list[tuple[float, str]]:
    d = p.astype(np.float64) - t.astype(np.float64)
    return [
        (float(np.sum(d**2)), "sum instead of mean: use tf.reduce_mean, not tf.reduce_sum"),
        (float(np.sqrt(np.mean(d**2))), "root mean squared error: drop the tf.sqrt"),
        (float(np.mean(np.abs(d))), "mean absolute error: square the difference (tf.square) "
                                    "instead of taking tf.abs"),
        (float(np.mean(d)), "the difference is not squared: use tf.square(predicted - target)"),
        (float(np.mean(d) ** 2), "mean taken before squaring: square each difference first, "
                                 "then average"),
        (float(0.5 * np.mean(d**2)), "halved mean squared error: drop the factor 0.5"),
    ]


def check_loss(loss: Callable[[Any, Any], Any]) -> None:
    """Check ``loss(predicted, target)`` against numpy's mean squared error (float32 inputs)."""
    self_test()  # the comparison tools must be the real ones (see _common)
    rng = np.random.default_rng(SEED)
    for shape in LOSS_SHAPES:
        p = rng.normal(0.0, 2.0, size=shape).astype(np.float32)
        t = rng.normal(0.0, 2.0, size=shape).astype(np.float32)
        what = f"loss(predicted, target) for float32 tensors of shape {shape}"
        try:
            value = loss(tf.constant(p), tf.constant(t))
        except Exception as exc:  # noqa: BLE001 - reported to the student
            fail(f"{what} raised {type(exc).__name__}: {exc}", "a scalar tensor",
                 "use TensorFlow ops on the two tensors (tf.square, tf.reduce_mean)")
        arr = to_numpy(value) if value is not None else None
        if arr is not None and arr.size != 1:
            fail(f"{what} has shape {arr.shape}", "a scalar (shape ())",
                 "the mean was taken over one axis only (keras.losses.mean_squared_error "
                 "averages the last axis): use tf.reduce_mean without an axis")
        observed = _as_scalar(value, what, "return tf.reduce_mean(tf.square(predicted - target))")
        expected = float(np.mean((p.astype(np.float64) - t.astype(np.float64)) ** 2))
        if np.isclose(observed, expected, rtol=1e-5, atol=1e-6):
            continue
        for candidate, hint in _loss_mistakes(p, t):
            if np.isclose(observed, candidate, rtol=1e-5, atol=1e-6):
                fail(f"{what} is {observed:.6g}", f"the mean squared error {expected:.6g}", hint)
        fail(f"{what} is {observed:.6g}", f"the mean squared error {expected:.6g}",
             "return the mean over all elements of (predicted - target) squared")
    _check_loss_differentiable(loss, rng)


def _check_loss_differentiable(loss: Callable[[Any, Any], Any], rng: np.random.Generator) -> None:
    p0 = rng.normal(size=(6,)).astype(np.float32)
    t = rng.normal(size=(6,)).astype(np.float32)
    p = tf.Variable(p0)
    hint = ("the loss is not differentiable: use TensorFlow ops only (no numpy, no .numpy(), "
            "no float()) so that tf.GradientTape can follow it")
    try:
        with tf.GradientTape() as tape:
            value = loss(p * 1.0, tf.constant(t))
        grad = tape.gradient(value, p)
    except Exception as exc:  # noqa: BLE001 - reported to the student
        fail(f"differentiating loss raised {type(exc).__name__}: {exc}", "a gradient", hint)
    if grad is None:
        fail("tape.gradient(loss(predicted, target), predicted) is None", "a gradient", hint)
    check_close(grad, 2.0 * (p0.astype(np.float64) - t) / p0.size,
                "the gradient of loss w.r.t. predicted", hint, rtol=RTOL, atol=ATOL)


# --------------------------------------------------------------------------- train
class CheckModel:
    """The notebook's linear model ``w * x + b`` plus a variable that train must not touch."""

    def __init__(self, w: float, b: float) -> None:
        self.w = tf.Variable(w, dtype=tf.float32)
        self.b = tf.Variable(b, dtype=tf.float32)
        self.untouched = tf.Variable([0.5, -0.5], dtype=tf.float32)

    def __call__(self, x: Any) -> tf.Tensor:
        return self.w * x + self.b


@dataclass
class Step:
    """Reference quantities of one gradient-descent step on the mean squared error."""

    loss: float
    dw: float
    db: float
    n: int


def make_data(n: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Noisy points of a line the check chooses (float32); the model never starts on it."""
    rng = np.random.default_rng(seed)
    xs = rng.normal(0.5, 1.5, size=n).astype(np.float32)
    ys = (-1.5 * xs + 0.8 + rng.normal(0.0, 0.3, size=n)).astype(np.float32)
    return xs, ys


def reference_step(xs: np.ndarray, ys: np.ndarray, w: float, b: float) -> Step:
    """MSE and its analytic gradient: dL/dw = mean(2 e x), dL/db = mean(2 e), e = w x + b - y."""
    x, y = xs.astype(np.float64), ys.astype(np.float64)
    err = w * x + b - y
    return Step(float(np.mean(err**2)), float(np.mean(2 * err * x)), float(np.mean(2 * err)),
                x.size)


def _mse(xs: np.ndarray, ys: np.ndarray, w: float, b: float) -> float:
    return reference_step(xs, ys, w, b).loss


def _update_mistakes(s: Step, lr: float, w0: float, b0: float) -> list[tuple[float, float, str]]:
    """(delta w, delta b, message) that typical mistakes would produce."""
    return [
        (0.0, 0.0, "w and b unchanged: was assign_sub called? `w = model.w - lr * dw` makes a "
                   "new tensor and leaves the Variables as they were"),
        (-lr * s.dw, 0.0, "b unchanged (w updated correctly): was "
                          "model.b.assign_sub(learning_rate * db) called?"),
        (0.0, -lr * s.db, "w unchanged (b updated correctly): was "
                          "model.w.assign_sub(learning_rate * dw) called?"),
        (lr * s.dw, lr * s.db, "the update has the wrong sign: step against the gradient with "
                               "assign_sub (or w - lr * dw), not assign_add"),
        (-lr * s.db, -lr * s.dw, "gradient w.r.t. the wrong variable: the gradients are swapped "
                                 "(w moved by dL/db, b by dL/dw); keep the order of "
                                 "tape.gradient(loss, [model.w, model.b])"),
        (-lr * s.dw, -lr * s.dw, "gradient w.r.t. the wrong variable: b was updated with dL/dw"),
        (-lr * s.db, -lr * s.db, "gradient w.r.t. the wrong variable: w was updated with dL/db"),
        (-s.dw, -s.db, "learning rate ignored: the step must be learning_rate * gradient"),
        (-s.n * lr * s.dw, -s.n * lr * s.db,
         f"sum instead of mean: the step is {s.n} (the number of examples) times too large; "
         "loss() must use tf.reduce_mean, not tf.reduce_sum"),
        (-lr * s.dw - w0, -lr * s.db - b0,
         "assign instead of assign_sub: the Variables were set to the step itself; use "
         "w.assign_sub(lr * dw) or w.assign(w - lr * dw)"),
    ]


def _run_train(
    train: Callable[..., Any], w0: float, b0: float, lr: float, n: int, seed: int
) -> tuple[CheckModel, Any, np.ndarray, np.ndarray]:
    xs, ys = make_data(n, seed)
    model = CheckModel(w0, b0)
    try:
        returned = train(model, tf.constant(xs), tf.constant(ys), lr)
    except Exception as exc:  # noqa: BLE001 - reported to the student
        fail(f"train(model, inputs, outputs, {lr}) raised {type(exc).__name__}: {exc}",
             "one gradient step on model.w and model.b",
             "use only model(inputs) (or model.w * inputs + model.b), model.w and model.b")
    return model, returned, xs, ys


# (w0, b0, learning_rate, n, seed): learning rates other than the notebook's, so a hard-coded
# value shows up; starting points away from the notebook's 2.0 and 1.0.
TRAIN_CASES = ((0.5, -0.25, 0.03, 24, SEED), (2.0, 1.0, 0.2, 17, SEED + 1))


def check_train_update(train: Callable[..., Any], loss: Callable[..., Any] | None = None) -> None:
    """Check that one ``train`` step moves w and b by exactly -learning_rate * gradient.

    The gradient is the analytic MSE gradient computed in numpy; nothing but ``model.w`` and
    ``model.b`` may change. With ``loss`` given, a failure also says whether ``loss`` itself
    fails its check (train usually calls it).
    """
    self_test()  # the comparison tools must be the real ones (see _common)
    try:
        for w0, b0, lr, n, seed in TRAIN_CASES:
            _check_one_update(train, w0, b0, lr, n, seed)
    except CheckFailure as failure:
        raise CheckFailure(_with_loss_note(str(failure), loss)) from None


def _check_one_update(
    train: Callable[..., Any], w0: float, b0: float, lr: float, n: int, seed: int
) -> None:
    model, _, xs, ys = _run_train(train, w0, b0, lr, n, seed)
    step = reference_step(xs, ys, w0, b0)
    w1 = _as_scalar(model.w, "model.w after train", "keep model.w a scalar Variable")
    b1 = _as_scalar(model.b, "model.b after train", "keep model.b a scalar Variable")
    obs = np.array([w1 - w0, b1 - b0])
    exp = np.array([-lr * step.dw, -lr * step.db])
    observed = (f"with learning_rate={lr}, w moved {w0} -> {w1:.6g} and b moved {b0} -> "
                f"{b1:.6g} (steps {obs[0]:.4g}, {obs[1]:.4g})")
    expected = f"steps -learning_rate * (dL/dw, dL/db) = ({exp[0]:.4g}, {exp[1]:.4g})"
    if not np.allclose(obs, exp, rtol=RTOL, atol=ATOL):
        for dw_m, db_m, hint in _update_mistakes(step, lr, w0, b0):
            if np.allclose(obs, [dw_m, db_m], rtol=RTOL, atol=ATOL):
                fail(observed, expected, hint)
        if abs(exp[0]) > ATOL and abs(exp[1]) > ATOL:
            ratios = obs / exp
            if np.isclose(ratios[0], ratios[1], rtol=1e-3):
                fail(observed, expected,
                     f"both steps are {ratios[0]:.3g} times the expected ones: use the "
                     "learning_rate argument (not a global or fixed value) and the gradient of "
                     "the mean squared error")
        fail(observed, expected, "compute dw, db = tape.gradient(loss, [model.w, model.b]) "
                                 "and call model.w.assign_sub(learning_rate * dw), same for b")
    if not np.array_equal(model.untouched.numpy(), np.array([0.5, -0.5], np.float32)):
        fail(f"a third variable of the model changed to {model.untouched.numpy()}",
             "only model.w and model.b to change",
             "update exactly [model.w, model.b], not every variable you can find")


def check_train_returns_loss_before_update(
    train: Callable[..., Any], loss: Callable[..., Any] | None = None
) -> None:
    """Check that ``train`` returns the loss computed before its update (the tape's loss)."""
    self_test()  # the comparison tools must be the real ones (see _common)
    try:
        for w0, b0, lr, n, seed in TRAIN_CASES:
            model, returned, xs, ys = _run_train(train, w0, b0, lr, n, seed)
            what = f"the value train returned (learning_rate={lr})"
            before = _mse(xs, ys, w0, b0)
            observed = _as_scalar(
                returned, what,
                "return the loss computed inside the tape (the loss before the update)")
            if np.isclose(observed, before, rtol=RTOL, atol=ATOL):
                continue
            w1, b1 = float(model.w.numpy()), float(model.b.numpy())
            if np.isclose(observed, _mse(xs, ys, w1, b1), rtol=RTOL, atol=ATOL) and not (
                np.isclose(before, _mse(xs, ys, w1, b1), rtol=RTOL, atol=ATOL)
            ):
                fail(f"{what} is {observed:.6g}, the loss after the update",
                     f"the loss before the update, {before:.6g}",
                     "loss returned after the update: return the loss computed inside the "
                     "tape, before assign_sub")
            if np.isclose(observed, before * xs.size, rtol=RTOL, atol=ATOL):
                fail(f"{what} is {observed:.6g}, {xs.size} times the mean squared error",
                     f"{before:.6g}", "sum instead of mean in loss(): use tf.reduce_mean")
            fail(f"{what} is {observed:.6g}", f"the loss before the update, {before:.6g}",
                 "return loss(model(inputs), outputs) as computed inside the tape")
    except CheckFailure as failure:
        raise CheckFailure(_with_loss_note(str(failure), loss)) from None


def _with_loss_note(message: str, loss: Callable[..., Any] | None) -> str:
    if loss is None:
        return message
    try:
        check_loss(loss)
    except CheckFailure as loss_failure:
        return f"{message} Note: train uses loss(), which fails its own check: {loss_failure}"
    return message


# --------------------------------------------------------------------------- fit
FIT_EPOCHS = 6  # differs from the notebook's EPOCHS, so a fit that ignores `epochs` shows
FIT_LR = 0.15
FIT_START = (0.5, -0.25)


def reference_fit(
    xs: np.ndarray, ys: np.ndarray, w: float, b: float, epochs: int, lr: float
) -> tuple[list[float], list[float], list[float], float, float]:
    """Numpy gradient descent; entry i holds w, b and the loss *before* step i."""
    ws, bs, losses = [], [], []
    for _ in range(epochs):
        step = reference_step(xs, ys, w, b)
        ws.append(w)
        bs.append(b)
        losses.append(step.loss)
        w, b = w - lr * step.dw, b - lr * step.db
    return ws, bs, losses, w, b


def _history(values: Any, name: str) -> np.ndarray:
    try:
        return np.array([float(to_numpy(v).ravel()[0]) for v in values])
    except (TypeError, ValueError, IndexError) as exc:
        fail(f"the {name} history could not be read as numbers ({exc})",
             "a list of floats, one per epoch",
             "append numbers (model.w.numpy(), float(loss)), one per epoch")


def _close_seq(a: np.ndarray, b: Sequence[float]) -> bool:
    return is_close(a, np.asarray(b), rtol=RTOL, atol=ATOL)


def check_fit(fit: Callable[..., Any], train: Callable[..., Any] | None = None) -> None:
    """Check ``fit`` against a numpy reference loop on the check's data and model.

    Histories must have one entry per epoch with w, b recorded *before* each step and the loss
    the step returned (the pre-update loss). With ``train`` given, a failure also says whether
    ``train`` itself fails its checks.
    """
    self_test()  # the comparison tools must be the real ones (see _common)
    try:
        _check_fit(fit)
    except CheckFailure as failure:
        message = str(failure)
        if train is not None:
            try:
                check_train_update(train)
                check_train_returns_loss_before_update(train)
            except CheckFailure as train_failure:
                message += f" Note: fit calls train(), which fails its own check: {train_failure}"
        raise CheckFailure(message) from None


def _check_fit(fit: Callable[..., Any]) -> None:
    xs, ys = make_data(32, SEED + 2)
    w0, b0 = FIT_START
    ref_ws, ref_bs, ref_losses, ref_w, ref_b = reference_fit(xs, ys, w0, b0, FIT_EPOCHS, FIT_LR)
    model = CheckModel(w0, b0)
    call = f"fit(model, inputs, outputs, {FIT_EPOCHS}, {FIT_LR})"
    try:
        result = fit(model, tf.constant(xs), tf.constant(ys), FIT_EPOCHS, FIT_LR)
    except Exception as exc:  # noqa: BLE001 - reported to the student
        fail(f"{call} raised {type(exc).__name__}: {exc}", "three histories (ws, bs, losses)",
             "call train(model, inputs, outputs, learning_rate) once per epoch")
    try:
        ws_raw, bs_raw, losses_raw = result
    except (TypeError, ValueError):
        fail(f"{call} returned {type(result).__name__}", "a tuple (ws, bs, losses)",
             "return ws, bs, losses")
    ws, bs = _history(ws_raw, "w"), _history(bs_raw, "b")
    losses = _history(losses_raw, "loss")
    for name, hist in (("ws", ws), ("bs", bs), ("losses", losses)):
        if len(hist) != FIT_EPOCHS:
            extra = len(hist) - FIT_EPOCHS
            hint = ("one entry per epoch: loop `for epoch in range(epochs)` over the epochs "
                    "argument (not a global EPOCHS) and append once per epoch")
            if extra == 1:
                hint = ("one extra entry: the values were recorded before the loop and again "
                        "in every epoch; append once per epoch, before the step")
            fail(f"{name} has {len(hist)} entries after {FIT_EPOCHS} epochs",
                 f"{FIT_EPOCHS} entries", hint)
    w_end, b_end = float(model.w.numpy()), float(model.b.numpy())
    if w_end == w0 and b_end == b0:
        fail(f"after {call} the model passed in still has w={w0}, b={b0}",
             f"w={ref_w:.5g}, b={ref_b:.5g}",
             "the model argument was not trained: call train(model, ...) with fit's own "
             "`model` argument (not the global model) and its inputs/outputs")
    after_ws, after_bs = ref_ws[1:] + [ref_w], ref_bs[1:] + [ref_b]
    if not _close_seq(losses, ref_losses):
        after_losses = [_mse(xs, ys, w, b) for w, b in zip(after_ws, after_bs, strict=True)]
        hint = ("store the value train returns, once per epoch, in order "
                "(train must take one step and return the loss before it)")
        if _close_seq(losses, after_losses):
            hint = ("loss recorded after the step: record the loss train returns (the loss "
                    "before the update), as the documented rule says")
        elif np.allclose(losses, losses[0]) and not np.allclose(ref_losses, ref_losses[0]):
            hint = "the loss never changes: call train on the model every epoch"
        _fail_history("losses", losses, ref_losses, hint)
    for name, hist, ref, after, end in (("ws", ws, ref_ws, after_ws, w_end),
                                         ("bs", bs, ref_bs, after_bs, b_end)):
        if _close_seq(hist, ref):
            continue
        var = name[0]
        hint = (f"append model.{var}.numpy() once per epoch, before calling train, so entry i "
                f"holds {var} before step i")
        if np.allclose(hist, end) and not np.allclose(ref, end):
            hint = (f"every entry equals the final {var}: append the value "
                    f"(model.{var}.numpy()), not the Variable model.{var} itself")
        elif _close_seq(hist, after):
            hint = (f"{var} recorded after the step: the documented rule is to record w and b "
                    "before each step (append them, then call train)")
        _fail_history(name, hist, ref, hint)
    check_close([w_end, b_end], [ref_w, ref_b], "the model's (w, b) after fit",
                "fit must leave the model after exactly `epochs` steps", rtol=RTOL, atol=ATOL)


def _fail_history(name: str, observed: np.ndarray, expected: Sequence[float], hint: str) -> None:
    fail(f"{name} is {np.array2string(observed, precision=5, separator=', ')}",
         f"{np.array2string(np.asarray(expected), precision=5, separator=', ')} "
         f"(rtol={RTOL:g}, atol={ATOL:g})", hint)
