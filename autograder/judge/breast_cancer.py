"""Judge of the ``breast_cancer`` assignment: F1Score, apply_gradient and the training loop.

Trusted side: numpy only, never the student's code. Every challenge draws fresh inputs (data,
initial weights, learning rate, batch size, epochs) and, for the exercises that build on
another one, the reference values the observer's stubs replay (per-step weights, logits and
losses; per-epoch metric updates and losses). Those sit in ``Challenge.private``, never in a
file the kernel can read: the exercise's oracle serves them to the stub one call at a time,
only for the next expected call (:func:`epoch_oracle`, :func:`loop_oracle`), and the judge
requires the served steps (``obs.served``). The reference is a small dense network written
here: Dense(h, relu) -> Dense(1, sigmoid), binary cross-entropy averaged over the batch, plain
SGD. Challenges keep every probability at least :data:`MARGIN` away from 0.5, so rounding the
student's float32 outputs and the reference's float64 ones gives the same 0/1 predictions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autograder.judge.core import (
    Challenge,
    Exercise,
    Observation,
    as_array,
    as_scalar,
    close,
    decode,
    describe,
    error_text,
    fail,
    short,
)

ASSIGNMENT = "breast_cancer"
MARGIN = 2e-3  # no probability closer than this to 0.5 (rounding is then unambiguous)
EPS = 1e-7  # Keras' clipping of probabilities in binary cross-entropy
F1_ATOL = 2e-6  # float32 ratio of small integer counts
LOSS_RTOL, LOSS_ATOL = 1e-4, 1e-5  # float32 forward pass against the float64 reference
WEIGHT_RTOL, WEIGHT_ATOL = 1e-4, 1e-5
METRIC_ATOL = 1e-5  # a Keras metric's float32 value of small integer counts
VALUE_ATOL = 1e-6  # replayed float32 values read back


# ----------------------------------------------------------------------- reference network


def f32(arr: Any) -> np.ndarray:
    """Float32 values (what the kernel receives), held as an array of float32."""
    return np.asarray(arr, dtype=np.float64).astype(np.float32)


def draw_net(rng: np.random.Generator, d: int, h: int, scale: float = 1.0) -> list[np.ndarray]:
    """Glorot-like initial weights [W1 (d, h), b1 (h,), W2 (h, 1), b2 (1,)] in float32."""
    return [f32(rng.normal(0, scale / np.sqrt(d), (d, h))), f32(rng.normal(0, 0.1, h)),
            f32(rng.normal(0, scale / np.sqrt(h), (h, 1))), f32(rng.normal(0, 0.1, 1))]


def forward(ws: list[np.ndarray], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities (n, 1), hidden activations) of the network in float64."""
    w1, b1, w2, b2 = (np.asarray(w, dtype=np.float64) for w in ws)
    a = np.maximum(np.asarray(x, dtype=np.float64) @ w1 + b1, 0.0)
    z = a @ w2 + b2
    return 1.0 / (1.0 + np.exp(-z)), a


def bce(y: np.ndarray, p: np.ndarray) -> float:
    """Keras' BinaryCrossentropy: mean over the batch of the clipped log-loss."""
    y = np.asarray(y, dtype=np.float64)
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


def broadcast_bce(y: np.ndarray, p: np.ndarray) -> float:
    """BCE of (n,) labels against (n, 1) probabilities broadcast to (n, n): the shape bug."""
    return bce(np.asarray(y).ravel()[None, :], np.asarray(p).reshape(-1, 1))


def gradients(ws: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """Gradients of the mean BCE with respect to [W1, b1, W2, b2]."""
    p, a = forward(ws, x)
    dz = (p - np.asarray(y, dtype=np.float64)) / len(x)
    w2 = np.asarray(ws[2], dtype=np.float64)
    dh = (dz @ w2.T) * (a > 0)
    xs = np.asarray(x, dtype=np.float64)
    return [xs.T @ dh, dh.sum(axis=0), a.T @ dz, dz.sum(axis=0)]


def sgd(ws: list[np.ndarray], grads: list[np.ndarray], lr: float) -> list[np.ndarray]:
    return [np.asarray(w, dtype=np.float64) - lr * g for w, g in zip(ws, grads, strict=True)]


def labels_for(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """0/1 labels of shape (n, 1) that depend on x, with both classes present."""
    n = len(x)
    w = rng.normal(size=x.shape[1])
    y = ((x @ w + 0.5 * rng.normal(size=n)) > 0).astype(np.float64)
    y[0], y[-1] = 0.0, 1.0
    return f32(y.reshape(-1, 1))


def clear_of_half(*probabilities: np.ndarray) -> bool:
    return all(np.all(np.abs(np.asarray(p) - 0.5) > MARGIN) for p in probabilities)


def counts(y: np.ndarray, p: np.ndarray) -> dict[str, int]:
    t, q = np.asarray(y).ravel() > 0.5, np.asarray(p).ravel() > 0.5
    return {"tp": int(np.sum(t & q)), "fp": int(np.sum(~t & q)),
            "tn": int(np.sum(~t & ~q)), "fn": int(np.sum(t & ~q))}


def f1_of(c: dict[str, int]) -> float:
    """F1 from counts, 0 when undefined (scikit-learn's zero_division=0)."""
    denominator = 2 * c["tp"] + c["fp"] + c["fn"]
    return 2 * c["tp"] / denominator if denominator else 0.0


def accuracy_of(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((np.asarray(y).ravel() > 0.5) == (np.asarray(p).ravel() > 0.5)))


def text(c: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in c.items())


def batches_of(x: np.ndarray, y: np.ndarray, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(x[i:i + size], y[i:i + size]) for i in range(0, len(x), size)]


def col(values: Any) -> np.ndarray:
    return f32(np.asarray(values, dtype=np.float64).reshape(-1, 1))


def net_arrays(ws: list[np.ndarray], prefix: str = "w") -> dict[str, np.ndarray]:
    return {f"{prefix}{i}": f32(w) for i, w in enumerate(ws)}


def net_of(ch: Challenge, prefix: str = "w") -> list[np.ndarray]:
    return [np.asarray(ch.arrays[f"{prefix}{i}"], dtype=np.float64) for i in range(4)]


# ------------------------------------------------------------------------------- F1Score

F1_FORMULA = "2 * precision * recall / (precision + recall)"


def f1_challenge(rng: np.random.Generator) -> Challenge:
    """Cases of 0/1 batches: edge cases (0/0, no true positive, all right) and random ones."""
    def batch(size: int, flip: float, positive: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
        y = (rng.random(size) < positive).astype(float)
        p = np.where(rng.random(size) < flip, 1 - y, y)
        return col(y), col(p)

    cases: list[tuple[str, list[tuple[np.ndarray, np.ndarray]]]] = []
    n = int(rng.integers(3, 9))
    cases.append(("all labels and predictions 0 (precision and recall are 0/0)",
                  [(col(np.zeros(n)), col(np.zeros(n)))]))
    y = col(rng.permutation([1.0] * 2 + [0.0] * int(rng.integers(1, 5))))
    cases.append(("no true positive (precision = recall = 0)", [(y, 1 - y)]))
    y = col(rng.permutation([1.0] * int(rng.integers(1, 6)) + [0.0] * int(rng.integers(1, 6))))
    cases.append(("every prediction right", [(y, y.copy())]))
    for n_batches in (1, int(rng.integers(2, 4)), int(rng.integers(4, 7))):
        cases.append((f"{n_batches} batch(es) accumulated",
                      [batch(int(rng.integers(2, 40)), float(rng.uniform(0.1, 0.6)))
                       for _ in range(n_batches)]))
    order = rng.permutation(len(cases))
    params: dict[str, Any] = {"cases": []}
    arrays: dict[str, np.ndarray] = {}
    for i, index in enumerate(order):
        what, batches = cases[int(index)]
        params["cases"].append({"what": what, "batches": len(batches)})
        for j, (y, p) in enumerate(batches):
            arrays[f"c{i}_y{j}"], arrays[f"c{i}_p{j}"] = y, p
    return Challenge(params, arrays)


def _f1_batches(ch: Challenge, case: int) -> list[tuple[np.ndarray, np.ndarray]]:
    n = int(ch.params["cases"][case]["batches"])
    return [(ch.arrays[f"c{case}_y{j}"], ch.arrays[f"c{case}_p{j}"]) for j in range(n)]


def _cumulative(batches: list[tuple[np.ndarray, np.ndarray]]) -> list[dict[str, int]]:
    out, total = [], dict.fromkeys(("tp", "fp", "tn", "fn"), 0)
    for y, p in batches:
        c = counts(y, p)
        total = {k: total[k] + c[k] for k in total}
        out.append(dict(total))
    return out


def _counters_hold(observed: Any, c: dict[str, int]) -> bool:
    """The metric's variables hold the counts ``c`` (tn may be missing; names are free)."""
    try:
        values = sorted(round(float(v)) for v in np.asarray(observed, dtype=float).ravel()
                        if np.isfinite(v))
    except (TypeError, ValueError):
        return False
    for wanted in ([c["tp"], c["fp"], c["tn"], c["fn"]], [c["tp"], c["fp"], c["fn"]]):
        pool = list(values)
        try:
            for v in wanted:
                pool.remove(v)
        except ValueError:
            continue
        return True
    return False


NOT_TRACKED = ("the counters were created with tf.Variable instead of "
               "self.add_variable(shape=(), initializer='zeros', name=...). Keras 3 only tracks "
               "variables made with add_variable (Keras 2 called it add_weight)")


def _require_tracked(obs: Observation) -> None:
    made = obs.raw("created")
    if isinstance(made, dict) and "__error__" in made:
        fail(f"F1Score() raised {made['__error__']}", "a new metric",
             "__init__ must accept name='f1_score' and **kwargs and pass them to "
             "super().__init__")
    n_vars = obs.raw("n_variables")
    if not isinstance(n_vars, (int, float)) or n_vars < 1:
        fail("F1Score().variables is empty: Keras does not know the metric's counters",
             "the counters tp, fp, tn, fn listed in metric.variables", NOT_TRACKED)


def judge_f1_score(ch: Challenge, obs: Observation) -> None:
    _require_tracked(obs)
    name = obs.raw("name")
    if name != "f1_score":
        fail(f"F1Score().name is {describe(name)}", "'f1_score'",
             "keep __init__(self, name='f1_score', **kwargs) and pass name on to "
             "super().__init__")
    cases = obs.raw("cases")
    if not isinstance(cases, list) or len(cases) != len(ch.params["cases"]):
        fail("the observation has no result per case", "one per case",
             "the test cell did not run to the end")
    for i, spec in enumerate(ch.params["cases"]):
        case = cases[i] if isinstance(cases[i], dict) else {}
        batches = _f1_batches(ch, i)
        results = case.get("results")
        counters = case.get("counters")
        for j, c in enumerate(_cumulative(batches)):
            if not isinstance(results, list) or j >= len(results):
                fail(f"F1Score stopped in the case '{spec['what']}'",
                     "a result after each batch",
                     "update_state and result must run on (n, 1) batches of 0/1 labels and "
                     "predictions")
            value = Observation({"v": results[j]}).value(
                "v", "update_state() or result()",
                "update_state and result must run on (n, 1) batches of 0/1 values")
            observed = as_scalar(value, "result()", "result() must return one number")
            expected = f1_of(c)
            if np.isfinite(observed) and abs(observed - expected) <= F1_ATOL:
                continue
            where = (f"F1Score().result() after {j + 1} update(s) in the case "
                     f"'{spec['what']}' ({text(c)})")
            wanted = f"{expected:.6f} (F1 of every count since the metric was made)"
            held = counters[j] if isinstance(counters, list) and len(counters) > j else None
            right_counts = _counters_hold(decode(held), c)
            if np.isnan(observed):
                fail(f"{where} is nan", wanted,
                     "precision + recall is 0 here, so the F1 formula divides by zero: use "
                     "tf.math.divide_no_nan (a Python `if` on tensors is not the way either)")
            if right_counts:
                if expected > 0 and abs(observed - expected / 2) <= F1_ATOL:
                    hint = ("the counters are right but the F1 formula is not: the factor 2 is "
                            f"missing, F1 = {F1_FORMULA}")
                elif expected == 0 and abs(observed - 1.0) <= F1_ATOL:
                    hint = ("the counters are right but the F1 formula gives 1 when precision "
                            "and recall are undefined (the original notebook's convention); "
                            "here F1 is 0 then, as scikit-learn's f1_score(zero_division=0): "
                            "use tf.math.divide_no_nan")
                else:
                    hint = ("the counters are right but the F1 formula is not: result() should "
                            f"return {F1_FORMULA} with precision = tp / (tp + fp) and recall = "
                            "tp / (tp + fn)")
                fail(f"{where} is {observed:.6f}", wanted, hint)
            last = counts(*batches[j])
            if j > 0 and last != c and _counters_hold(decode(held), last):
                fail(f"{where} is {observed:.6f}", wanted,
                     "only the last update_state call counts: accumulate the counters with "
                     "assign_add instead of overwriting them with assign")
            fail(f"{where} is {observed:.6f}", wanted,
                 f"the counters should add up every update_state call and result() return "
                 f"{F1_FORMULA}")


def f1_reset_challenge(rng: np.random.Generator) -> Challenge:
    """Batches counted before reset_state() (with tp, fp and fn > 0) and batches after it."""
    def batch() -> tuple[np.ndarray, np.ndarray]:
        size = int(rng.integers(6, 30))
        y = (rng.random(size) < 0.5).astype(float)
        p = np.where(rng.random(size) < 0.35, 1 - y, y)
        y[:3], p[:3] = [1, 1, 0], [1, 0, 1]  # at least one tp, fn and fp
        order = rng.permutation(size)
        return col(y[order]), col(p[order])

    before, after = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    arrays = {}
    for j in range(before):
        arrays[f"a_y{j}"], arrays[f"a_p{j}"] = batch()
    for j in range(after):
        arrays[f"b_y{j}"], arrays[f"b_p{j}"] = batch()
    return Challenge({"before": before, "after": after}, arrays)


def judge_f1_reset_state(ch: Challenge, obs: Observation) -> None:
    """reset_state() makes the metric behave like a new one (judged against the student's own
    class, so a wrong F1 formula is not blamed on reset_state)."""
    _require_tracked(obs)
    hint_run = "update_state, result and reset_state must run on (n, 1) batches of 0/1 values"
    after_reset = obs.value("counters_after_reset", "reset_state()", hint_run)
    names = obs.raw("counter_names")
    values = as_array(after_reset, "the counters after reset_state()", hint_run).ravel()
    left = [f"{names[i] if isinstance(names, list) and i < len(names) else i}={v:g}"
            for i, v in enumerate(values) if v != 0]
    if left:
        fail(f"after reset_state() these counters are not zero: {', '.join(left)}",
             "every counter in metric.variables back to 0",
             "reset_state must assign 0 to every counter (tp, fp, tn and fn); "
             "`for v in self.variables: v.assign(0)` does them all")
    fresh = as_scalar(obs.value("fresh_empty", "F1Score().result()", hint_run),
                      "F1Score().result()", hint_run)
    reset = as_scalar(obs.value("reset_empty", "result() after reset_state()", hint_run),
                      "result() after reset_state()", hint_run)
    if not (close(fresh, reset, atol=F1_ATOL) or (np.isnan(fresh) and np.isnan(reset))):
        fail(f"result() right after reset_state() is {reset:g}",
             f"{fresh:g}, the result() of a new F1Score()",
             "reset_state must set back everything result() uses, so the metric is as new")
    fresh_after = obs.value("fresh_results", "a new F1Score() given the batches", hint_run)
    reset_after = obs.value("reset_results", "the metric after reset_state()", hint_run)
    for what, values in (("update_state() or result() of a new F1Score()", fresh_after),
                         ("update_state() or result() after reset_state()", reset_after)):
        errors = [error_text(v) for v in values] if isinstance(values, list) else []
        if any(errors):
            fail(f"{what} raised {next(e for e in errors if e)}", "no error", hint_run)
    a = as_array(fresh_after, "results of a new F1Score()", hint_run)
    b = as_array(reset_after, "results after reset_state()", hint_run)
    if a.shape != b.shape or not np.allclose(a, b, atol=F1_ATOL, rtol=0, equal_nan=True):
        fail(f"after reset_state() and {int(ch.params['after'])} new update(s), result() gives "
             f"{short(b)}",
             f"{short(a)}, what a new F1Score() gives for the same updates",
             "reset_state must forget everything counted before it")


# ------------------------------------------------------------------------ apply_gradient


def apply_gradient_challenge(rng: np.random.Generator) -> Challenge:
    """One batch, a fresh network and an SGD learning rate; outputs clear of 0.5 before and
    after the step, and the step changes the loss and the outputs visibly."""
    for _ in range(200):
        d, h, n = int(rng.integers(3, 8)), int(rng.integers(4, 9)), int(rng.integers(8, 25))
        lr = float(f32(rng.uniform(0.2, 1.0)))
        x = f32(rng.normal(size=(n, d)))
        y = labels_for(rng, x)
        ws = draw_net(rng, d, h)
        p0, _ = forward(ws, x)
        w1 = sgd(ws, gradients(ws, x, y), lr)
        p1, _ = forward(w1, x)
        if clear_of_half(p0, p1) and np.max(np.abs(p1 - p0)) > 1e-2:
            break
    return Challenge({"lr": lr, "n": n, "d": d, "h": h}, {"x": x, "y": y, **net_arrays(ws)})


WEIGHT_NAMES = ("hidden kernel", "hidden bias", "output kernel", "output bias")
NO_TAPE = ("the forward pass must run inside `with tf.GradientTape() as tape:` (both "
           "model(x, training=True) and the loss), otherwise the tape records nothing and "
           "tape.gradient returns None for every weight")


def _apply_gradient_error(error: str) -> str:
    if "No gradients provided" in error or "NoneType" in error or "None" in error:
        return NO_TAPE
    return "apply_gradient(optimizer, loss_object, model, x, y) must run on a batch"


def judge_apply_gradient(ch: Challenge, obs: Observation) -> None:
    x, y, lr = ch.arrays["x"], ch.arrays["y"], float(ch.params["lr"])
    ws = net_of(ch)
    p0, _ = forward(ws, x)
    loss0 = bce(y, p0)
    grads = gradients(ws, x, y)
    w_ref = sgd(ws, grads, lr)
    p1, _ = forward(w_ref, x)
    error = obs.error("returned")
    if error is not None:
        fail(f"apply_gradient raised {error}", "one SGD step without an error",
             _apply_gradient_error(error))
    out = obs.value("returned", "apply_gradient", "")
    if not isinstance(out, list) or len(out) != 2:
        fail(f"apply_gradient returned {describe(out)}", "a pair (logits, loss_value)",
             "end with `return logits, loss_value`")
    logits = as_array(out[0], "logits", "return the model's output for the batch as logits")
    if logits.shape != p0.shape:
        fail(f"logits has shape {logits.shape}", f"shape {p0.shape} (the model's output)",
             "return logits = model(x, training=True) as computed inside the tape")
    if not close(logits, p0, LOSS_RTOL, LOSS_ATOL):
        hint = "logits must be model(x, training=True) computed inside the tape, before the step"
        if close(logits, p1, LOSS_RTOL, LOSS_ATOL):
            hint = ("logits were computed after the optimizer step (on the updated weights): "
                    "compute them inside the tape, before optimizer.apply_gradients")
        fail(f"logits is {short(logits)}", f"{short(p0)} (rtol={LOSS_RTOL:g})", hint)
    loss = as_array(out[1], "loss_value", "return the loss of the batch")
    if loss.size != 1:
        fail(f"loss_value has shape {loss.shape}", "a scalar (shape ())",
             "loss_value = loss_object(y_true=y, y_pred=logits) is the mean loss of the batch")
    value = float(loss.ravel()[0])
    if not close(value, loss0, LOSS_RTOL, LOSS_ATOL):
        hint = ("loss_value must be loss_object(y_true=y, y_pred=logits), the mean loss of the "
                "batch on the weights before the step")
        if close(value, bce(y, p1), LOSS_RTOL, LOSS_ATOL):
            hint = ("the loss was computed after the optimizer step (on the updated weights): "
                    "compute it inside the tape, before optimizer.apply_gradients")
        elif close(value, broadcast_bce(y, p0), LOSS_RTOL, LOSS_ATOL):
            hint = ("labels of shape (n,) were compared with predictions of shape (n, 1): they "
                    "broadcast to (n, n) and the loss averages all n*n pairs. Keep labels and "
                    "predictions the same shape (n, 1)")
        elif close(value, loss0 * len(x), LOSS_RTOL, LOSS_ATOL):
            hint = "the loss is the sum over the batch instead of the mean: use loss_object"
        elif close(value, -loss0, LOSS_RTOL, LOSS_ATOL):
            hint = "the loss has the wrong sign"
        fail(f"loss_value is {value:.6f}", f"{loss0:.6f} (rtol={LOSS_RTOL:g})", hint)
    after = obs.value("weights_after", "reading the weights", "")
    if not isinstance(after, list) or len(after) != 4:
        fail(f"the model has {describe(after)} trainable weights after the step",
             "the 4 weights of the model", "apply_gradient must not add or remove weights")
    arrays = [as_array(w, f"weight {WEIGHT_NAMES[i]}", "") for i, w in enumerate(after)]
    if any(a.shape != w.shape for a, w in zip(arrays, ws, strict=True)):
        fail("the weights changed shape", "the same shapes", "update the weights in place")
    moved = [not np.array_equal(a, w) for a, w in zip(arrays, ws, strict=True)]
    if not any(moved):
        fail("the weights did not change after apply_gradient",
             "every trainable weight updated by one SGD step",
             "was optimizer.apply_gradients(zip(gradients, model.trainable_weights)) called?")
    if not all(moved):
        still = [WEIGHT_NAMES[i] for i, m in enumerate(moved) if not m]
        fail(f"these weights did not change: {', '.join(still)}",
             "every trainable weight updated",
             "gradients were taken or applied for only some of the weights: use "
             "model.trainable_weights in both tape.gradient and apply_gradients")

    def all_close(reference: list[np.ndarray]) -> bool:
        return all(close(a, r, WEIGHT_RTOL, WEIGHT_ATOL)
                   for a, r in zip(arrays, reference, strict=True))

    if all_close(w_ref):
        return
    if all_close(sgd(ws, grads, -lr)):
        hint = ("the weights moved up the gradient (gradient ascent): the sign of the step is "
                "flipped; optimizer.apply_gradients subtracts learning_rate * gradient")
    elif all_close(sgd(ws, grads, 2 * lr)):
        hint = "the optimizer step was applied twice: apply it exactly once per call"
    else:
        hint = ("apply the optimizer exactly once, to the gradients of this batch's loss with "
                "respect to model.trainable_weights")
    worst = max(range(4), key=lambda i: float(np.max(np.abs(arrays[i] - w_ref[i]))))
    fail(f"weight {WEIGHT_NAMES[worst]} after the step is {short(arrays[worst])}",
         f"{short(w_ref[worst])} (one SGD step, learning rate {lr:g})", hint)


# -------------------------------------------------------------- train_data_for_one_epoch


def epoch_challenge(rng: np.random.Generator) -> Challenge:
    """An epoch of SGD steps on a fresh network, with the values the apply_gradient stub
    replays (logits and loss of each batch, weights after each step). At least one
    prediction flips at a step, so predictions taken after the step are told apart."""
    for _ in range(300):
        d, h = int(rng.integers(3, 7)), int(rng.integers(3, 7))
        size, n_batches = int(rng.integers(4, 11)), int(rng.integers(3, 6))
        n = size * (n_batches - 1) + int(rng.integers(1, size + 1))
        lr = float(f32(rng.uniform(1.0, 3.0)))
        x = f32(rng.normal(size=(n, d)))
        y = labels_for(rng, x)
        ws = [f32(w) for w in draw_net(rng, d, h, scale=0.5)]
        arrays: dict[str, np.ndarray] = {"x": x, "y": y, **net_arrays(ws)}
        private: dict[str, np.ndarray] = {}
        ok, flips = True, 0
        for k, (xb, yb) in enumerate(batches_of(x, y, size)):
            p0, _ = forward(ws, xb)
            ws = [f32(w) for w in sgd(ws, gradients(ws, xb, yb), lr)]
            p1, _ = forward(ws, xb)
            ok = ok and clear_of_half(p0, p1)
            flips += int(np.sum(np.round(p0) != np.round(p1)))
            private[f"logits{k}"] = f32(p0)
            private[f"loss{k}"] = f32(bce(yb, p0))
            private.update(net_arrays(ws, prefix=f"s{k}_"))
        if ok and flips:
            break
    return Challenge({"lr": lr, "batch": size, "n_batches": n_batches, "d": d, "h": h}, arrays,
                     private)


def step_weights(ch: Challenge, k: int) -> list[np.ndarray]:
    """The reference weights after step k of the epoch (private: the oracle serves them)."""
    return [np.asarray(ch.private[f"s{k}_{i}"], dtype=np.float64) for i in range(4)]


def _request_array(value: Any) -> np.ndarray | None:
    """A float64 array from an oracle request (None if it is not one)."""
    try:
        arr = np.asarray(decode(value), dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return arr if arr.dtype.kind == "f" else None


def epoch_oracle(ch: Challenge, state: dict, request: dict) -> dict:
    """Step k of the reference epoch, for an apply_gradient called with batch k and the epoch
    function's own optimizer, loss and model, on the model where step k-1 left it (float32
    tolerance); anything else is refused (and counted)."""
    k = state.setdefault("steps", 0)
    state.setdefault("refused", 0)
    batches = batches_of(ch.arrays["x"], ch.arrays["y"], int(ch.params["batch"]))
    ok = k < len(batches) and all(request.get(arg) is True
                                  for arg in ("optimizer", "loss_object", "model"))
    if ok:
        xb, yb = batches[k]
        x, y = _request_array(request.get("x")), _request_array(request.get("y"))
        ok = (x is not None and y is not None and x.size == xb.size and y.size == yb.size
              and close(x.ravel(), xb.ravel(), 1e-6, 1e-6) and close(y.ravel(), yb.ravel(), 0, 0))
    now = request.get("weights")
    if ok:
        start = net_of(ch) if k == 0 else step_weights(ch, k - 1)
        current = [_request_array(w) for w in now] if isinstance(now, list) else []
        ok = len(current) == 4 and all(
            c is not None and c.shape == np.shape(w) and close(c, w, 1e-5, 1e-6)
            for c, w in zip(current, start, strict=True))
    if not ok:
        state["refused"] += 1
        return {"ok": False, "why": "not the next step of this epoch"}
    state["steps"] = k + 1
    return {"ok": True, "logits": ch.private[f"logits{k}"].tolist(),
            "loss": float(ch.private[f"loss{k}"]),
            "weights": [ch.private[f"s{k}_{i}"].tolist() for i in range(4)]}


def _losses(obs_value: Any, n: int, fn: str, expected: np.ndarray, last_hint: str) -> None:
    if not isinstance(obs_value, list):
        fail(f"{fn} returned {describe(obs_value)}", f"a list with one loss per batch ({n})",
             "collect each batch's loss in a list and return the list")
    try:
        values = np.array([float(np.asarray(v, dtype=float).ravel()[0]) if np.size(v) == 1
                           else np.nan for v in obs_value])
    except (TypeError, ValueError):
        fail(f"{fn} returned {describe(obs_value)}", "a list of scalar losses",
             "append each batch's loss (a scalar) to the list")
    if len(values) != n:
        hint = ("append each batch's loss once, inside the batch loop, and return the whole "
                "list: one loss per batch (not only the last loss, nor their mean)")
        if len(values) == 1 and close(values[0], np.mean(expected), 1e-5, 1e-6):
            hint = ("the list holds the mean loss of the epoch: return one loss per batch "
                    "(train_model takes the mean)")
        fail(f"{fn} returned {len(values)} loss(es) for {n} batches", "one loss per batch",
             hint)
    if not close(values, expected, LOSS_RTOL, LOSS_ATOL):
        fail(f"the per-batch losses are {short(values)}", f"{short(expected)}", last_hint)


def metric_events(raw: Any, what: str) -> list[list]:
    if not isinstance(raw, list):
        fail(f"no record of {what}", f"the calls made on {what}",
             "the test cell did not run to the end")
    return [e for e in raw if isinstance(e, list) and e]


def judge_metric_updates(events: list[list], arg: str, fn: str,
                         batches: list[tuple[np.ndarray, np.ndarray]],
                         wanted: list[np.ndarray], after_step: list[np.ndarray] | None) -> None:
    """``arg`` was updated once per batch with its labels and ``wanted`` (rounded), and not
    reset after its first update."""
    updates = [e for e in events if e[0] == "u"]
    if not updates:
        fail(f"{fn} never called {arg}.update_state", "one update per batch",
             f"update both metrics, {arg} included, with the labels and rounded predictions "
             "of every batch")
    first = next(i for i, e in enumerate(events) if e[0] == "u")
    resets = [i for i, e in enumerate(events) if e[0] == "z" and i > first]
    if resets:
        done = sum(1 for e in events[:resets[0]] if e[0] == "u")
        fail(f"{fn} reset {arg} after {done} of its {len(batches)} batches",
             f"{arg} to accumulate the whole epoch",
             f"{arg} was reset inside {fn} (at every batch?): the metric would report only "
             "the last batch. Reset the metrics once per epoch, in train_model")
    if len(updates) != len(batches):
        fail(f"{fn} called {arg}.update_state {len(updates)} time(s) for {len(batches)} "
             "batches", "one update per batch", f"update {arg} once per batch, inside the loop")
    for k, (event, (_, yb), want) in enumerate(zip(updates, batches, wanted, strict=True)):
        y_seen = as_array(decode(event[1]) if len(event) > 1 else None,
                          f"the labels given to {arg}", "").ravel()
        p_seen = as_array(decode(event[2]) if len(event) > 2 else None,
                          f"the predictions given to {arg}", "").ravel()
        if y_seen.shape != yb.ravel().shape or not np.array_equal(y_seen, yb.ravel()):
            hint = "pass the batch labels first: update_state(y_batch, predictions)"
            if y_seen.shape == yb.ravel().shape and np.array_equal(
                    y_seen, np.round(want).ravel()):
                hint = ("labels and predictions are swapped: the labels come first, "
                        "update_state(y_batch, predictions)")
            fail(f"{arg}.update_state got labels {short(y_seen)} for batch {k}",
                 f"that batch's labels {short(yb.ravel())}", hint)
        if p_seen.shape != want.ravel().shape:
            fail(f"{arg}.update_state got {p_seen.size} predictions for batch {k}",
                 f"{want.size}", "pass the predictions of this batch")
        rounded = np.round(want.ravel())
        if np.array_equal(p_seen, rounded):
            continue
        if not np.all(np.isin(p_seen, (0.0, 1.0))):
            fail(f"{arg}.update_state got unrounded predictions such as {short(p_seen[:3])}",
                 "predictions of 0 or 1",
                 "round the probabilities with tf.round(logits) before updating the metrics")
        if after_step is not None and np.array_equal(p_seen, np.round(after_step[k].ravel())):
            fail(f"{arg}.update_state got predictions {short(p_seen)} for batch {k}",
                 f"{short(rounded)}, tf.round of the logits apply_gradient returned",
                 "the predictions were recomputed after the weights changed (after the "
                 "optimizer step): update the metrics with tf.round(logits) of the logits "
                 "apply_gradient returned, the predictions the loss was computed on")
        fail(f"{arg}.update_state got predictions {short(p_seen)} for batch {k}",
             f"{short(rounded)}", f"update {arg} with tf.round(logits) of this very batch")


def judge_end_value(events: list[list], arg: str, expected: float) -> None:
    ends = [e for e in events if e[0] == "end"]
    value = as_scalar(decode(ends[-1][1]) if ends and len(ends[-1]) > 1 else None,
                      f"{arg}.result() at the end", "")
    if abs(value - expected) > METRIC_ATOL:
        fail(f"{arg}.result() after the call is {value:.6f}",
             f"{expected:.6f}, the metric of every batch of the call",
             f"{arg} must accumulate every batch: update it once per batch and do not reset it")


def _stub_calls(obs: Observation, n: int, fn: str, callee: str, batches: list) -> None:
    calls = obs.raw("calls")
    if not isinstance(calls, list):
        fail("no record of the apply_gradient calls", "one per batch",
             "the test cell did not run to the end")
    if len(calls) != n:
        fail(f"{fn} called {callee} {len(calls)} time(s) for {n} batches",
             "one call per batch",
             f"call {callee}(optimizer, loss_object, model, x_batch_train, y_batch_train) "
             "once for every batch of train_dataset")
    for k, (call, (xb, yb)) in enumerate(zip(calls, batches, strict=True)):
        call = call if isinstance(call, dict) else {}
        for arg in ("optimizer", "loss_object", "model"):
            if call.get(arg) is not True:
                fail(f"{callee} call {k} got another {arg} than the one {fn} was given",
                     f"the {arg} argument of {fn}",
                     f"pass {fn}'s own {arg} on to {callee}")
        x_seen = decode(call.get("x"))
        y_seen = decode(call.get("y"))
        x_head = np.asarray(xb, dtype=float).ravel()[:6]
        y_head = np.asarray(yb, dtype=float).ravel()[:8]
        if not (isinstance(x_seen, np.ndarray) and close(x_seen.ravel()[:6], x_head, 1e-6, 1e-6)
                and isinstance(y_seen, np.ndarray) and close(y_seen.ravel()[:8], y_head)):
            fail(f"{callee} call {k} got x starting {describe(x_seen)}",
                 f"batch {k}, x starting {short(x_head)}",
                 f"pass the batch of this step to {callee}: "
                 "(optimizer, loss_object, model, x_batch_train, y_batch_train)")


def judge_train_epoch(ch: Challenge, obs: Observation) -> None:
    x, y = ch.arrays["x"], ch.arrays["y"]
    size, n = int(ch.params["batch"]), int(ch.params["n_batches"])
    batches = batches_of(x, y, size)
    logits = [np.asarray(ch.private[f"logits{k}"], dtype=float) for k in range(n)]
    losses = np.array([float(ch.private[f"loss{k}"]) for k in range(n)])
    after = [forward(step_weights(ch, k), xb)[0] for k, (xb, _) in enumerate(batches)]
    fn = "train_data_for_one_epoch"
    error = obs.error("returned")
    if error is not None:
        fail(f"{fn} raised {error}", "one epoch without an error",
             "run the loop over (x_batch_train, y_batch_train) in train_dataset, with "
             "apply_gradient and both metrics' update_state")
    _stub_calls(obs, n, fn, "apply_gradient", batches)
    steps = int((obs.served or {}).get("steps", 0))
    if steps != n:
        fail(f"only {steps} of the {n} calls of apply_gradient were the epoch's next step (the "
             "batch in order, with the function's own optimizer, loss_object and model, on the "
             "model where the previous step left it)", "one served step per batch, in order",
             "call apply_gradient(optimizer, loss_object, model, x_batch_train, y_batch_train) "
             "once per batch with the function's own arguments, and leave the model to it")
    returned = obs.value("returned", fn, "")
    _losses(returned, n, fn, losses,
            "each entry is the loss_value apply_gradient returned for that batch, in order")
    for raw, arg in (("acc", "train_acc_metric"), ("f1", "train_f1score_metric")):
        events = metric_events(obs.raw(raw), arg)
        judge_metric_updates(events, arg, fn, batches, logits, after)
    all_y = np.concatenate([b[1] for b in batches])
    all_p = np.round(np.concatenate(logits))
    judge_end_value(metric_events(obs.raw("acc"), "train_acc_metric"), "train_acc_metric",
                    accuracy_of(all_y, all_p))
    judge_end_value(metric_events(obs.raw("f1"), "train_f1score_metric"),
                    "train_f1score_metric", f1_of(counts(all_y, all_p)))


# --------------------------------------------------------------------- perform_validation


def validation_challenge(rng: np.random.Generator) -> Challenge:
    for _ in range(200):
        d, h = int(rng.integers(3, 8)), int(rng.integers(3, 8))
        size, n_batches = int(rng.integers(4, 17)), int(rng.integers(2, 5))
        n = size * (n_batches - 1) + int(rng.integers(1, size + 1))
        x = f32(rng.normal(size=(n, d)))
        y = labels_for(rng, x)
        ws = draw_net(rng, d, h)
        if clear_of_half(forward(ws, x)[0]):
            break
    return Challenge({"batch": size, "n_batches": n_batches, "d": d, "h": h},
                     {"x": x, "y": y, **net_arrays(ws)})


def judge_validation(ch: Challenge, obs: Observation) -> None:
    x, y = ch.arrays["x"], ch.arrays["y"]
    size, n = int(ch.params["batch"]), int(ch.params["n_batches"])
    ws = net_of(ch)
    batches = batches_of(x, y, size)
    probs = [forward(ws, xb)[0] for xb, _ in batches]
    losses = np.array([bce(yb, p) for (_, yb), p in zip(batches, probs, strict=True)])
    fn = "perform_validation"
    error = obs.error("returned")
    if error is not None:
        fail(f"{fn} raised {error}", "a validation pass without an error",
             "loop over (x_val, y_val) in test_dataset: val_logits = model(x_val), the loss, "
             "and both metrics' update_state")
    after = obs.value("weights_after", "reading the weights", "")
    if not isinstance(after, list) or len(after) != 4 or not all(
            close(as_array(a, "a weight", ""), w, 0, 0) for a, w in zip(after, ws, strict=True)):
        fail(f"{fn} changed the model's weights", "validation leaves the weights alone",
             "validation only runs model(x_val): no tape, no optimizer step")
    returned = obs.value("returned", fn, "")
    _losses(returned, n, fn, losses,
            "each entry is loss_object(y_true=y_val, y_pred=model(x_val)) of one batch")
    for raw, arg in (("acc", "val_acc_metric"), ("f1", "val_f1score_metric")):
        events = metric_events(obs.raw(raw), arg)
        judge_metric_updates(events, arg, fn, batches, probs, None)
    all_y = np.concatenate([b[1] for b in batches])
    all_p = np.round(np.concatenate(probs))
    judge_end_value(metric_events(obs.raw("acc"), "val_acc_metric"), "val_acc_metric",
                    accuracy_of(all_y, all_p))
    judge_end_value(metric_events(obs.raw("f1"), "val_f1score_metric"), "val_f1score_metric",
                    f1_of(counts(all_y, all_p)))


# ---------------------------------------------------------------------------- train_model

METRICS = ("train_acc_metric", "train_f1score_metric", "val_acc_metric", "val_f1score_metric")
TRAIN_ARGS = ("train_dataset", "optimizer", "loss_object", "model", "train_acc_metric",
              "train_f1score_metric")
VAL_ARGS = ("test_dataset", "model", "loss_object", "val_acc_metric", "val_f1score_metric")


def _metric_value(metric: str, updates: list[tuple[np.ndarray, np.ndarray]]) -> float:
    if not updates:
        return 0.0
    y = np.concatenate([u[0] for u in updates])
    p = np.concatenate([u[1] for u in updates])
    return accuracy_of(y, p) if "acc" in metric else f1_of(counts(y, p))


def loop_challenge(rng: np.random.Generator) -> Challenge:
    """Per epoch: the metric updates and losses the two stubs replay (private: the oracle
    serves them epoch by epoch). Every epoch's own
    metric value differs from the running value since the start, from 0 and from the value
    of the epoch before, so each misplaced reset gives a wrong number."""
    for _ in range(500):
        epochs = int(rng.integers(3, 5))  # an "if epoch == 0" reset shows from epoch 2 on
        n_train, n_val = int(rng.integers(2, 5)), int(rng.integers(1, 4))
        arrays: dict[str, np.ndarray] = {}
        per_epoch: dict[str, list[list]] = {m: [] for m in METRICS}
        for e in range(epochs):
            quality = rng.uniform(0.05, 0.6)  # share of wrong predictions this epoch
            for prefix, n_batches in (("t", n_train), ("v", n_val)):
                for k in range(n_batches):
                    size = int(rng.integers(3, 12))
                    yb = (rng.random(size) < 0.5).astype(float)
                    yb[0] = 1.0
                    pb = np.where(rng.random(size) < quality, 1 - yb, yb)
                    arrays[f"{prefix}y{e}_{k}"], arrays[f"{prefix}p{e}_{k}"] = col(yb), col(pb)
                    for m in METRICS:
                        if m[0] == prefix:
                            per_epoch[m].append([e, col(yb), col(pb)])
                arrays[f"{prefix}l{e}"] = f32(rng.uniform(0.1, 1.0, n_batches))
        ok = True
        for m in METRICS:
            for e in range(epochs):
                own = _metric_value(m, [(u[1], u[2]) for u in per_epoch[m] if u[0] == e])
                running = _metric_value(m, [(u[1], u[2]) for u in per_epoch[m] if u[0] <= e])
                ok = ok and own > 0.02 and (e == 0 or abs(own - running) > 0.02)
                ok = ok and (e == 0 or abs(own - _metric_value(
                    m, [(u[1], u[2]) for u in per_epoch[m] if u[0] == e - 1])) > 0.02)
        if ok:
            break
    d, h = 3, 2
    return Challenge({"epochs": epochs, "n_train": n_train, "n_val": n_val, "d": d, "h": h},
                     {"x": f32(rng.normal(size=(6, d))), "y": col([0, 1] * 3)}, arrays)


LOOP_STUBS = {"train": ("train_data_for_one_epoch", "n_train"),
              "val": ("perform_validation", "n_val")}


def loop_oracle(ch: Challenge, state: dict, request: dict) -> dict:
    """Epoch e of the replayed training (``tag`` "train") or validation ("val"): the labels
    and predictions of its metric updates and its per-batch losses, served once per epoch in
    order, only to a call that got train_model's own arguments (as the stub names them; the
    original no-argument perform_validation uses the notebook's objects); anything else is
    refused (and counted)."""
    tag = request.get("tag")
    if tag not in LOOP_STUBS:
        return {"ok": False, "why": "unknown replay"}
    e = state.setdefault(f"{tag}_epochs", 0)
    got = request.get("args")
    wanted = list(TRAIN_ARGS if tag == "train" else VAL_ARGS)
    own = isinstance(got, list) and (got == wanted or (
        tag == "val" and got == [None] * len(wanted)))
    if e >= int(ch.params["epochs"]) or not own:
        state[f"{tag}_refused"] = state.get(f"{tag}_refused", 0) + 1
        return {"ok": False, "why": "not the next epoch of this loop"}
    state[f"{tag}_epochs"] = e + 1
    prefix, n = tag[0], int(ch.params[LOOP_STUBS[tag][1]])
    return {"ok": True,
            "y": [ch.private[f"{prefix}y{e}_{k}"].tolist() for k in range(n)],
            "p": [ch.private[f"{prefix}p{e}_{k}"].tolist() for k in range(n)],
            "losses": ch.private[f"{prefix}l{e}"].tolist()}


def _epoch_updates(ch: Challenge, metric: str, e: int) -> list[tuple[np.ndarray, np.ndarray]]:
    prefix, n = ("t", int(ch.params["n_train"])) if metric[0] == "t" else (
        "v", int(ch.params["n_val"]))
    return [(ch.private[f"{prefix}y{e}_{k}"], ch.private[f"{prefix}p{e}_{k}"])
            for k in range(n)]


def judge_loop(ch: Challenge, obs: Observation) -> None:
    epochs = int(ch.params["epochs"])
    fn = "train_model"
    error = obs.error("returned")
    if error is not None:
        fail(f"{fn} raised {error}", "training without an error",
             "for each epoch: train_data_for_one_epoch, read the training metrics, "
             "perform_validation, read the validation metrics, reset all four metrics")
    events = obs.raw("events")
    if not isinstance(events, list):
        fail("no record of the loop", "the calls of the epoch loop",
             "the test cell did not run to the end")
    events = [e for e in events if isinstance(e, list) and e]
    _judge_loop_calls(events, epochs)
    served = obs.served or {}
    for tag, (stub, _) in LOOP_STUBS.items():
        answered = int(served.get(f"{tag}_epochs", 0))
        if answered != epochs:
            fail(f"only {answered} of the {epochs} calls of {stub} were the loop's next epoch "
                 f"(with train_model's own arguments)", "one served epoch per call, in order",
                 f"call {stub} once per epoch with train_model's own arguments")
    _judge_loop_metrics(ch, events, epochs)
    _judge_loop_losses(ch, obs.value("returned", fn, ""), epochs)


def _judge_loop_calls(events: list[list], epochs: int) -> None:
    for stub, args in (("train_data_for_one_epoch", TRAIN_ARGS),
                       ("perform_validation", VAL_ARGS)):
        calls = [e for e in events if e[0] == stub]
        if len(calls) != epochs:
            fail(f"train_model called {stub} {len(calls)} time(s) in {epochs} epochs",
                 "once per epoch", f"call {stub} once in every epoch")
        for e, call in enumerate(calls):
            got = call[2] if len(call) > 2 and isinstance(call[2], list) else []
            if stub == "perform_validation" and not any(isinstance(g, str) for g in got):
                continue  # the original no-argument call: the notebook's objects
            wanted = list(args)
            if got[:len(wanted)] != wanted:
                fail(f"in epoch {e}, {stub} got ({', '.join(str(g) for g in got)})",
                     f"({', '.join(wanted)})",
                     f"pass train_model's own arguments to {stub}, in this order")


def _judge_loop_metrics(ch: Challenge, events: list[list], epochs: int) -> None:
    for metric in METRICS:
        stub = "train_data_for_one_epoch" if metric[0] == "t" else "perform_validation"
        per_epoch = len(_epoch_updates(ch, metric, 0))
        starts = [i for i, e in enumerate(events) if e[0] == stub]
        bounds = starts[1:] + [len(events)]
        ever_reset = any(e[0] == "z" and e[1] == metric for e in events)
        for ep in range(epochs):
            expected = _metric_value(metric, _epoch_updates(ch, metric, ep))
            window = events[starts[ep]:bounds[ep]]
            reads = [e for e in window if e[0] == "r" and e[1] == metric]
            if not reads:
                fail(f"{metric}.result() was not read after epoch {ep}",
                     "each epoch's metrics read and reported",
                     "read train_acc_metric.result(), train_f1score_metric.result(), "
                     "val_acc_metric.result() and val_f1score_metric.result() every epoch, "
                     "before resetting them")
            value = as_scalar(decode(reads[0][2]) if len(reads[0]) > 2 else None,
                              f"{metric}.result()", "")
            since = int(reads[0][3]) if len(reads[0]) > 3 else -1
            if abs(value - expected) <= METRIC_ATOL:
                continue
            observed = f"{metric}.result() read after epoch {ep} is {value:.4f}"
            wanted = f"{expected:.4f}, the value of epoch {ep} alone"
            if since == 0:
                fail(observed, wanted,
                     f"{metric} was reset before its result was read (epoch {ep} reports an "
                     "empty metric): read result() first, then reset_state()")
            if since > per_epoch:
                if not ever_reset:
                    fail(observed, wanted,
                         f"{metric} was never reset: the value of epoch {ep} covers "
                         f"{since // per_epoch} epochs. Call {metric}.reset_state() at the end "
                         "of every epoch, after reading it")
                fail(observed, wanted,
                     f"{metric} was not reset after every epoch: the value of epoch {ep} "
                     f"covers {since} batches instead of {per_epoch}")
            fail(observed, wanted,
                 f"read {metric}.result() after the epoch's updates and reset all four "
                 "metrics once per epoch")


def _judge_loop_losses(ch: Challenge, out: Any, epochs: int) -> None:
    if not isinstance(out, list) or len(out) != 2:
        fail(f"train_model returned {describe(out)}", "(epochs_train_losses, epochs_val_losses)",
             "return the two lists of per-epoch mean losses")
    train = [np.asarray(ch.private[f"tl{e}"], dtype=float) for e in range(epochs)]
    val = [np.asarray(ch.private[f"vl{e}"], dtype=float) for e in range(epochs)]
    means = {"epochs_train_losses": np.array([v.mean() for v in train]),
             "epochs_val_losses": np.array([v.mean() for v in val])}
    lasts = {"epochs_train_losses": np.array([v[-1] for v in train]),
             "epochs_val_losses": np.array([v[-1] for v in val])}
    got = []
    for name, values in zip(means, out, strict=True):
        if not isinstance(values, list):
            fail(f"{name} is {describe(values)}", f"a list of {epochs} mean losses",
                 f"append one mean loss per epoch to {name}")
        try:
            arr = np.array([float(np.mean(np.asarray(v, dtype=float))) for v in values])
        except (TypeError, ValueError):
            fail(f"{name} holds {describe(values)}", "numbers",
                 f"append np.mean(losses) of each epoch to {name}")
        if len(arr) != epochs:
            fail(f"{name} has {len(arr)} entries after {epochs} epochs", "one mean per epoch",
                 f"append the epoch's mean loss to {name} once per epoch")
        got.append(arr)
    if close(got[0], means["epochs_val_losses"], 1e-5, 1e-6) and close(
            got[1], means["epochs_train_losses"], 1e-5, 1e-6):
        fail("train_model returned the validation losses first", "(epochs_train_losses, "
             "epochs_val_losses)", "return epochs_train_losses, epochs_val_losses in this order")
    for (name, expected), arr in zip(means.items(), got, strict=True):
        if close(arr, expected, 1e-5, 1e-6):
            continue
        hint = f"each entry of {name} is np.mean of that epoch's per-batch losses"
        if close(arr, lasts[name], 1e-5, 1e-6):
            hint = (f"{name} holds the last batch's loss of each epoch: append np.mean of all "
                    "the epoch's per-batch losses")
        fail(f"{name} is {short(arr)}", f"{short(expected)}", hint)


EXERCISES = {
    "f1_score_matches_sklearn": Exercise(challenge=f1_challenge, judge=judge_f1_score),
    "f1_score_reset_state": Exercise(challenge=f1_reset_challenge, judge=judge_f1_reset_state),
    "apply_gradient_updates_weights": Exercise(challenge=apply_gradient_challenge,
                                               judge=judge_apply_gradient),
    "train_data_for_one_epoch_losses_and_metrics": Exercise(challenge=epoch_challenge,
                                                            judge=judge_train_epoch,
                                                            oracle=epoch_oracle),
    "perform_validation_losses_and_metrics": Exercise(challenge=validation_challenge,
                                                      judge=judge_validation),
    "train_model_resets_metrics": Exercise(challenge=loop_challenge, judge=judge_loop,
                                           oracle=loop_oracle),
}
