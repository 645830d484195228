"""Judge of notebook 1 (``training_basics``): references in numpy (float64), fresh inputs.

Every expected value is computed here from the challenge: analytic derivatives, the mean
squared error and its gradient, one gradient-descent step and a gradient-descent loop. When an
answer is wrong, the observation is compared with what the typical mistakes would produce (sum
instead of mean, wrong sign, swapped gradients, ...) so the message names the mistake.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from autograder.judge.core import (
    Challenge,
    Exercise,
    Observation,
    as_scalar,
    check_close,
    close,
    decode,
    describe,
    error_text,
    fail,
)

RTOL = 1e-4  # float32 arithmetic in the student's code against a float64 reference
ATOL = 1e-5

# --------------------------------------------------------------------------- derivative
FUNCTIONS = {  # name -> (text, f, f')
    "cubic": ("x**3 - 2*x + 1", lambda x: x**3 - 2.0 * x + 1.0, lambda x: 3.0 * x**2 - 2.0),
    "sin": ("sin(x)", np.sin, np.cos),
    "exp": ("exp(x)", np.exp, np.exp),
    "exp_sin_square": ("exp(sin(x**2))", lambda x: np.exp(np.sin(x**2)),
                       lambda x: np.exp(np.sin(x**2)) * np.cos(x**2) * 2.0 * x),
}


def derivative_challenge(rng: np.random.Generator) -> Challenge:
    points = np.round(rng.uniform(-2.0, 2.0, size=3), 3)
    points[0] = np.round(rng.uniform(0.5, 2.0), 3)  # one point where f' is well away from 0
    return Challenge({"functions": list(FUNCTIONS), "points": [float(p) for p in points]})


def derivative_judge(ch: Challenge, obs: Observation) -> None:
    values = obs.raw("values")
    expected_count = len(ch["functions"]) * len(ch["points"]) * 2
    if not isinstance(values, list) or len(values) != expected_count:
        fail("the observation of derivative() is incomplete", f"{expected_count} values",
             "the test cell stopped early: look at its output")
    for entry in values:
        name, point, kind = entry["function"], float(entry["point"]), entry["kind"]
        text, f, df = FUNCTIONS[name]
        label = f"{point!r} (a Python float)" if kind == "float" else f"tf.constant({point!r})"
        what = f"derivative(f, {label}) for f(x) = {text}"
        value = decode(entry["value"])
        error = error_text(value)
        expected = float(df(point))
        if error is not None:
            fail(f"{what} raised {error}", f"df/dx = {expected:.6g}",
                 "x may be a Python float: convert it with tf.convert_to_tensor(x, "
                 "dtype=tf.float32) (or tf.constant) and call tape.watch(x)")
        if value is None:
            fail(f"{what} is None", f"df/dx = {expected:.6g}",
                 "tape.gradient returned None because x was not watched: call tape.watch(x) "
                 "inside the `with tf.GradientTape() as tape:` block and compute y = f(x) "
                 "inside it too")
        observed = as_scalar(value, what, "return tape.gradient(y, x), a single number")
        if np.isclose(observed, expected, rtol=RTOL, atol=ATOL):
            continue
        if np.isclose(observed, float(f(point)), rtol=RTOL, atol=ATOL):
            fail(f"{what} is {observed:.6g}, the function value f({point})",
                 f"the derivative {expected:.6g}",
                 "derivative returns the function value: return tape.gradient(y, x), not y")
        fail(f"{what} is {observed:.6g}", f"{expected:.6g} (rtol={RTOL:g})",
             "compute y = f(x) inside the tape and return tape.gradient(y, x)")


# --------------------------------------------------------------------------- loss
def loss_challenge(rng: np.random.Generator) -> Challenge:
    shapes = [(int(rng.integers(5, 12)),), (int(rng.integers(2, 5)), int(rng.integers(3, 6))),
              (1,), ()]
    arrays = {}
    for i, shape in enumerate(shapes):
        arrays[f"p{i}"] = rng.normal(0.0, 2.0, size=shape).astype(np.float32)
        arrays[f"t{i}"] = rng.normal(0.0, 2.0, size=shape).astype(np.float32)
    arrays["grad_p"] = rng.normal(size=(6,)).astype(np.float32)
    arrays["grad_t"] = rng.normal(size=(6,)).astype(np.float32)
    return Challenge({"pairs": len(shapes)}, arrays)


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


def loss_judge(ch: Challenge, obs: Observation) -> None:
    values = obs.raw("values")
    if not isinstance(values, list) or len(values) != int(ch["pairs"]):
        fail("the observation of loss() is incomplete", f"{ch['pairs']} values",
             "the test cell stopped early: look at its output")
    for i, raw in enumerate(values):
        p, t = ch.arrays[f"p{i}"], ch.arrays[f"t{i}"]
        what = f"loss(predicted, target) for float32 tensors of shape {p.shape}"
        value = decode(raw)
        error = error_text(value)
        if error is not None:
            fail(f"{what} raised {error}", "a scalar tensor",
                 "use TensorFlow ops on the two tensors (tf.square, tf.reduce_mean)")
        expected = float(np.mean((p.astype(np.float64) - t.astype(np.float64)) ** 2))
        if value is None:
            fail(f"{what} is None", f"the mean squared error {expected:.6g}",
                 "return the value: return tf.reduce_mean(tf.square(predicted - target))")
        arr = np.asarray(value, dtype=np.float64) if not isinstance(value, dict) else None
        if arr is not None and arr.size != 1:
            fail(f"{what} has shape {arr.shape}", "a scalar (shape ())",
                 "the mean was taken over one axis only (keras.losses.mean_squared_error "
                 "averages the last axis): use tf.reduce_mean without an axis")
        observed = as_scalar(value, what, "return tf.reduce_mean(tf.square(predicted - target))")
        if np.isclose(observed, expected, rtol=1e-5, atol=1e-6):
            continue
        for candidate, hint in _loss_mistakes(p, t):
            if np.isclose(observed, candidate, rtol=1e-5, atol=1e-6):
                fail(f"{what} is {observed:.6g}", f"the mean squared error {expected:.6g}", hint)
        fail(f"{what} is {observed:.6g}", f"the mean squared error {expected:.6g}",
             "return the mean over all elements of (predicted - target) squared")
    hint = ("the loss is not differentiable: use TensorFlow ops only (no numpy, no .numpy(), "
            "no float()) so that tf.GradientTape can follow it")
    gradient = obs.value("gradient", "differentiating loss", hint)
    if gradient is None:
        fail("tape.gradient(loss(predicted, target), predicted) is None", "a gradient", hint)
    p0, t0 = ch.arrays["grad_p"].astype(np.float64), ch.arrays["grad_t"].astype(np.float64)
    check_close(gradient, 2.0 * (p0 - t0) / p0.size, "the gradient of loss w.r.t. predicted",
                hint, rtol=RTOL, atol=ATOL)


# --------------------------------------------------------------------------- train
@dataclass
class Step:
    """Reference quantities of one gradient-descent step on the mean squared error."""

    loss: float
    dw: float
    db: float
    n: int


def reference_step(xs: np.ndarray, ys: np.ndarray, w: float, b: float) -> Step:
    """MSE and its analytic gradient: dL/dw = mean(2 e x), dL/db = mean(2 e), e = w x + b - y."""
    x, y = xs.astype(np.float64), ys.astype(np.float64)
    err = w * x + b - y
    return Step(float(np.mean(err**2)), float(np.mean(2 * err * x)), float(np.mean(2 * err)),
                x.size)


def make_data(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy points of a line drawn for this run (float32); the model never starts on it."""
    slope, intercept = rng.uniform(-2.5, 2.5), rng.uniform(-1.0, 1.0)
    xs = rng.normal(0.5, 1.5, size=n).astype(np.float32)
    ys = (slope * xs + intercept + rng.normal(0.0, 0.3, size=n)).astype(np.float32)
    return xs, ys


def train_challenge(rng: np.random.Generator) -> Challenge:
    """Two cases with learning rates other than the notebook's (a hard-coded one shows)."""
    params: dict = {"cases": 2}
    arrays: dict = {}
    private: dict = {}
    for case in range(2):
        w0, b0 = float(np.round(rng.uniform(-1.5, 2.5), 3)), float(np.round(rng.uniform(-1, 1), 3))
        lr = float(np.round(rng.uniform(0.02, 0.25), 3))
        xs, ys = make_data(rng, int(rng.integers(12, 30)))
        pred = w0 * xs.astype(np.float64) + b0
        err = pred - ys.astype(np.float64)
        params.update({f"w{case}": w0, f"b{case}": b0, f"lr{case}": lr})
        arrays.update({f"xs{case}": xs, f"ys{case}": ys})
        private.update({f"loss{case}": float(np.mean(err**2)),
                        f"dloss{case}": (2.0 * err / err.size).astype(np.float32),
                        f"pred{case}": pred.astype(np.float32)})
    return Challenge(params, arrays, private)


def _numbers(value: object, shape: tuple[int, ...]) -> np.ndarray | None:
    """A float64 array of ``shape`` from a request value, or None."""
    try:
        arr = np.asarray(decode(value), dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return arr if arr.shape == shape else None


def train_oracle(ch: Challenge, state: dict, request: dict) -> dict:
    """Reference loss value and gradient for ``loss(model(inputs), outputs)`` before the step.

    Answers only when the two tensors are the predictions of the case's starting model and
    its outputs (in either order): those are the numbers the student's train must pass."""
    case = request.get("case")
    if not isinstance(case, int) or case not in (0, 1):
        return {"ok": False, "why": "unknown case"}
    pred, target = ch.private[f"pred{case}"], ch.arrays[f"ys{case}"]
    first = _numbers(request.get("first"), pred.shape)
    second = _numbers(request.get("second"), pred.shape)
    state.setdefault("refused", 0)
    for swapped, (p, t) in ((False, (first, second)), (True, (second, first))):
        if p is not None and t is not None and close(p, pred, 1e-5, 1e-5) and close(t, target):
            state[f"served{case}"] = state.get(f"served{case}", 0) + 1
            return {"ok": True, "swapped": swapped, "value": ch.private[f"loss{case}"],
                    "gradient": ch.private[f"dloss{case}"].tolist()}
    state["refused"] += 1
    return {"ok": False, "why": "not (model(inputs), outputs) before the step"}


def _update_mistakes(s: Step, lr: float, w0: float, b0: float) -> list[tuple[float, float, str]]:
    """(delta w, delta b, message) that typical mistakes would produce."""
    return [
        (0.0, 0.0, "w and b unchanged: was assign_sub called? `w = model.w - lr * dw` makes a "
                   "new tensor and leaves the Variables as they were"),
        (-lr * s.dw, 0.0, "b unchanged (w updated correctly): was "
                          "model.b.assign_sub(learning_rate * db) called?"),
        (0.0, -lr * s.db, "w unchanged (b updated correctly): was "
                          "model.w.assign_sub(learning_rate * dw) called?"),
        (lr * s.dw, lr * s.db, "the update has the wrong sign (gradient ascent): step against "
                               "the gradient with assign_sub (or w - lr * dw), not assign_add"),
        (-lr * s.db, -lr * s.dw, "gradient w.r.t. the wrong variable: the gradients are swapped "
                                 "(w moved by dL/db, b by dL/dw); keep the order of "
                                 "tape.gradient(loss, [model.w, model.b])"),
        (-lr * s.dw, -lr * s.dw, "gradient w.r.t. the wrong variable: b was updated with dL/dw"),
        (-lr * s.db, -lr * s.db, "gradient w.r.t. the wrong variable: w was updated with dL/db"),
        (-s.dw, -s.db, "learning rate ignored: the step must be learning_rate * gradient"),
        (-lr * s.dw - w0, -lr * s.db - b0,
         "assign instead of assign_sub: the Variables were set to the step itself; use "
         "w.assign_sub(lr * dw) or w.assign(w - lr * dw)"),
    ]


def _case(ch: Challenge, obs: Observation, case: int) -> tuple[dict, float, float, float, Step]:
    cases = obs.raw("cases")
    if not isinstance(cases, list) or len(cases) != int(ch["cases"]):
        fail("the observation of train() is incomplete", f"{ch['cases']} calls",
             "the test cell stopped early: look at its output")
    entry = cases[case]
    w0, b0, lr = (float(ch.params[f"{k}{case}"]) for k in ("w", "b", "lr"))
    step = reference_step(ch.arrays[f"xs{case}"], ch.arrays[f"ys{case}"], w0, b0)
    returned = decode(entry.get("returned"))
    error = error_text(returned)
    if error is not None:
        fail(f"train(model, inputs, outputs, {lr}) raised {error}",
             "one gradient step on model.w and model.b",
             "use only model(inputs) (or model.w * inputs + model.b), model.w and model.b")
    calls = entry.get("loss_calls") or []
    if calls and not calls[0].get("matched"):
        fail("train called loss() with values that are not (model(inputs), outputs) for the "
             "model and data it was given", "loss(model(inputs), outputs) inside the tape",
             "compute the predictions with model(inputs) (w * x + b) inside the tape and pass "
             "the outputs argument as the target")
    return entry, w0, b0, lr, step


def train_update_judge(ch: Challenge, obs: Observation) -> None:
    """w and b moved by exactly -learning_rate * gradient; nothing else changed."""
    for case in range(int(ch["cases"])):
        entry, w0, b0, lr, step = _case(ch, obs, case)
        w1 = as_scalar(decode(entry.get("w")), "model.w after train", "keep model.w a Variable")
        b1 = as_scalar(decode(entry.get("b")), "model.b after train", "keep model.b a Variable")
        got = np.array([w1 - w0, b1 - b0])
        exp = np.array([-lr * step.dw, -lr * step.db])
        observed = (f"with learning_rate={lr}, w moved {w0} -> {w1:.6g} and b moved {b0} -> "
                    f"{b1:.6g} (steps {got[0]:.4g}, {got[1]:.4g})")
        expected = f"steps -learning_rate * (dL/dw, dL/db) = ({exp[0]:.4g}, {exp[1]:.4g})"
        if not np.allclose(got, exp, rtol=RTOL, atol=ATOL):
            for dw_m, db_m, hint in _update_mistakes(step, lr, w0, b0):
                if np.allclose(got, [dw_m, db_m], rtol=RTOL, atol=ATOL):
                    fail(observed, expected, hint)
            if abs(exp[0]) > ATOL and abs(exp[1]) > ATOL:
                ratios = got / exp
                if np.isclose(ratios[0], ratios[1], rtol=1e-3):
                    fail(observed, expected,
                         f"both steps are {ratios[0]:.3g} times the expected ones: use the "
                         "learning_rate argument (not a global or fixed value)")
            fail(observed, expected, "compute dw, db = tape.gradient(loss, [model.w, model.b]) "
                                     "and call model.w.assign_sub(learning_rate * dw), same "
                                     "for b")
        untouched = np.asarray(decode(entry.get("untouched")), dtype=np.float64)
        if not close(untouched, [0.5, -0.5], rtol=0, atol=0):
            fail(f"a third variable of the model changed to {describe(untouched)}",
                 "only model.w and model.b to change",
                 "update exactly [model.w, model.b], not every variable you can find")


def train_returns_judge(ch: Challenge, obs: Observation) -> None:
    """train returns the loss computed before its update (the tape's loss)."""
    for case in range(int(ch["cases"])):
        entry, w0, b0, lr, step = _case(ch, obs, case)
        what = f"the value train returned (learning_rate={lr})"
        returned = decode(entry.get("returned"))
        hint = "return the loss computed inside the tape (the loss before the update)"
        calls = entry.get("loss_calls") or []
        late = [c for c in calls[1:] if not c.get("matched")]
        if late:
            fail(f"train called loss() again after the update ({len(calls)} calls in all)",
                 f"the loss before the update, {step.loss:.6g}",
                 "loss returned after the update: return the loss computed inside the tape, "
                 "before assign_sub")
        observed = as_scalar(returned, what, hint)
        if np.isclose(observed, step.loss, rtol=RTOL, atol=ATOL):
            continue
        xs, ys = ch.arrays[f"xs{case}"], ch.arrays[f"ys{case}"]
        w1, b1 = (as_scalar(decode(entry.get(k)), f"model.{k} after train", hint)
                  for k in ("w", "b"))
        after = reference_step(xs, ys, w1, b1).loss
        if np.isclose(observed, after, rtol=RTOL, atol=ATOL) and not np.isclose(
                after, step.loss, rtol=RTOL, atol=ATOL):
            fail(f"{what} is {observed:.6g}, the loss after the update",
                 f"the loss before the update, {step.loss:.6g}",
                 "loss returned after the update: return the loss computed inside the tape, "
                 "before assign_sub")
        fail(f"{what} is {observed:.6g}", f"the loss before the update, {step.loss:.6g}",
             "return loss(model(inputs), outputs) as computed inside the tape")


# --------------------------------------------------------------------------- fit
def reference_fit(xs: np.ndarray, ys: np.ndarray, w: float, b: float, epochs: int,
                  lr: float) -> tuple[list[float], list[float], list[float]]:
    """Gradient descent; ws/bs hold epochs + 1 entries (before each step and at the end),
    losses the loss before each step."""
    ws, bs, losses = [w], [b], []
    for _ in range(epochs):
        step = reference_step(xs, ys, w, b)
        losses.append(step.loss)
        w, b = w - lr * step.dw, b - lr * step.db
        ws.append(w)
        bs.append(b)
    return ws, bs, losses


def fit_challenge(rng: np.random.Generator) -> Challenge:
    """Epochs and learning rate differ from the notebook's, so a fit that ignores them shows."""
    epochs = int(rng.integers(4, 9))
    lr = float(np.round(rng.uniform(0.05, 0.2), 3))
    w0, b0 = float(np.round(rng.uniform(-1.0, 2.0), 3)), float(np.round(rng.uniform(-1, 1), 3))
    xs, ys = make_data(rng, int(rng.integers(20, 40)))
    ws, bs, losses = reference_fit(xs, ys, w0, b0, epochs, lr)
    return Challenge({"epochs": epochs, "lr": lr, "w0": w0, "b0": b0}, {"xs": xs, "ys": ys},
                     {"ws": np.array(ws), "bs": np.array(bs), "losses": np.array(losses)})


def fit_oracle(ch: Challenge, state: dict, request: dict) -> dict:
    """Step k of the reference descent, for a train() called on the model where step k-1 left
    it (float32 tolerance), with fit's data and learning rate; anything else is refused."""
    k = state.setdefault("steps", 0)
    state.setdefault("refused", 0)
    ws, bs, losses = ch.private["ws"], ch.private["bs"], ch.private["losses"]
    n = ch.arrays["xs"].shape
    w, b = _numbers(request.get("w"), ()), _numbers(request.get("b"), ())
    xs, ys = _numbers(request.get("inputs"), n), _numbers(request.get("outputs"), n)
    lr = request.get("learning_rate")
    ok = (k < len(losses) and w is not None and b is not None and xs is not None
          and ys is not None and isinstance(lr, float) and np.isclose(lr, float(ch["lr"]))
          and close(xs, ch.arrays["xs"]) and close(ys, ch.arrays["ys"])
          and close([w, b], [ws[k], bs[k]], 1e-5, 1e-5))
    if not ok:
        state["refused"] += 1
        return {"ok": False, "why": "not the next step of this fit"}
    state["steps"] = k + 1
    return {"ok": True, "w": float(ws[k + 1]), "b": float(bs[k + 1]), "loss": float(losses[k])}


def _fail_history(name: str, observed: Sequence[float], expected: Sequence[float],
                  hint: str) -> None:
    fail(f"{name} is {np.array2string(np.asarray(observed), precision=5, separator=', ')}",
         f"{np.array2string(np.asarray(expected), precision=5, separator=', ')}", hint)


def fit_judge(ch: Challenge, obs: Observation) -> None:
    """Histories: one entry per epoch, w and b before each step, the loss train returned."""
    epochs, lr = int(ch["epochs"]), float(ch["lr"])
    call = f"fit(model, inputs, outputs, {epochs}, {lr})"
    histories = obs.value("histories", call,
                          "call train(model, inputs, outputs, learning_rate) once per epoch")
    if not isinstance(histories, list) or len(histories) != 3:
        fail(f"{call} returned {describe(histories)}", "a tuple (ws, bs, losses)",
             "return ws, bs, losses")
    calls = obs.raw("train_calls") or []
    # calls is empty when fit does the step itself instead of calling the global train: the
    # histories are then judged against the same reference trajectory.
    if calls and not all(c.get("own_model") for c in calls):
        fail(f"{call} trained another model than the one passed in",
             "train(model, ...) with fit's own `model` argument",
             "the model argument was not trained: call train with fit's own `model` argument "
             "(not the global model)")
    if calls and any(c.get("learning_rate") is None or not np.isclose(c["learning_rate"], lr)
                     for c in calls):
        fail(f"{call} called train with learning rates {[c.get('learning_rate') for c in calls]}",
             f"learning_rate={lr} every epoch", "pass fit's own learning_rate argument to train")
    if calls and len(calls) != epochs:
        fail(f"{call} called train {len(calls)} times", f"{epochs} calls (one per epoch)",
             "one step per epoch: loop `for epoch in range(epochs)` over the epochs argument "
             "(not a global EPOCHS)")
    w_end = as_scalar(decode(obs.raw("w")), "model.w after fit", "keep model.w a Variable")
    b_end = as_scalar(decode(obs.raw("b")), "model.b after fit", "keep model.b a Variable")
    if close([w_end, b_end], [float(ch["w0"]), float(ch["b0"])], rtol=0, atol=1e-7):
        fail(f"after {call} the model passed in still has w={w_end}, b={b_end}",
             "a trained model", "the model argument was not trained: call train(model, ...) "
             "with fit's own `model` argument (not the global model)")
    ref_ws, ref_bs = [float(v) for v in ch.private["ws"]], [float(v) for v in ch.private["bs"]]
    ref_losses = [float(v) for v in ch.private["losses"]]
    steps = int((obs.served or {}).get("steps", 0))
    if calls and steps != epochs:
        fail(f"{call} made {steps} steps of the descent through train ({len(calls)} calls)",
             f"{epochs} steps, each on the model where the previous one left it",
             "call train(model, inputs, outputs, learning_rate) once per epoch with fit's own "
             "model, inputs and outputs (not the global xs, ys), and let it update the model")
    for name, hist in zip(("ws", "bs", "losses"), histories, strict=True):
        if not isinstance(hist, list) or not all(isinstance(v, float) for v in hist):
            fail(f"the {name} history is {describe(hist)}", "a list of numbers, one per epoch",
                 "append numbers (model.w.numpy(), float(loss)), one per epoch")
        if len(hist) != epochs:
            hint = ("one entry per epoch: append once per epoch, before the step"
                    if len(hist) != epochs + 1 else
                    "one extra entry: the values were recorded before the loop and again in "
                    "every epoch; append once per epoch, before the step")
            if len(hist) != epochs + 1 and not calls:
                hint += " (loop over the epochs argument, not a global EPOCHS)"
            fail(f"{name} has {len(hist)} entries after {epochs} epochs", f"{epochs} entries",
                 hint)
    ws, bs, losses = histories
    if not close(losses, ref_losses, RTOL, ATOL):
        hint = "store the value train returns, once per epoch, in order"
        _fail_history("losses", losses, ref_losses, hint)
    for name, hist, ref in (("ws", ws, ref_ws), ("bs", bs, ref_bs)):
        if close(hist, ref[:-1], RTOL, ATOL):
            continue
        var = name[0]
        hint = (f"append model.{var}.numpy() once per epoch, before calling train, so entry i "
                f"holds {var} before step i")
        if close(hist, [ref[-1]] * epochs, RTOL, ATOL):
            hint = (f"every entry equals the final {var}: append the value "
                    f"(model.{var}.numpy()), not the Variable model.{var} itself")
        elif close(hist, ref[1:], RTOL, ATOL):
            hint = (f"{var} recorded after the step: the documented rule is to record w and b "
                    "before each step (append them, then call train)")
        _fail_history(name, hist, ref[:-1], hint)


EXERCISES = {
    "derivative_matches_analytic": Exercise(derivative_challenge, derivative_judge),
    "loss_is_mean_squared_error": Exercise(loss_challenge, loss_judge),
    "train_updates_w_and_b": Exercise(train_challenge, train_update_judge, train_oracle),
    "train_returns_loss_before_update": Exercise(train_challenge, train_returns_judge,
                                                 train_oracle),
    "fit_records_history": Exercise(fit_challenge, fit_judge, fit_oracle),
}
