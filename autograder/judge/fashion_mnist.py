"""Judge of notebook 2 (``fashion_mnist``): a small dense network trained with plain SGD.

Every challenge draws a fresh network (input, two ReLU layers, softmax; sizes, weights, biases),
fresh data, learning rate, batch size and epoch count, so nothing from the release or from an
earlier grading run predicts the expected numbers. The reference is numpy (float64): forward
pass, sparse categorical cross-entropy (mean over the batch), its backward pass, one SGD step,
accuracy by argmax. The student's code runs float32, hence RTOL/ATOL below.

One mistake, one exercise: ``train_data_for_one_epoch`` is observed with ``apply_gradient``
replaced by a replay of this module's reference steps, ``fit_custom`` with
``train_data_for_one_epoch`` and ``perform_validation`` replaced by replays of judge-made epochs
(labels, predictions, losses), so a wrong ``apply_gradient`` costs points in its own cell only.
The challenge models have no dropout or batch normalisation: ``model(x, training=True)`` and
``model(x)`` are both right.
"""

from __future__ import annotations

from collections.abc import Sequence
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

RTOL = 1e-4  # float32 student arithmetic against the float64 reference
ATOL = 1e-5
EPSILON = 1e-7  # Keras clips probabilities to [EPSILON, 1 - EPSILON] before the log
PARAMS = ("W0", "b0", "W1", "b1", "W2", "b2")
LAYERS = ("the first Dense layer's kernel", "the first Dense layer's bias",
          "the second Dense layer's kernel", "the second Dense layer's bias",
          "the output layer's kernel", "the output layer's bias")
NO_TAPE = ("the gradients are None: the forward pass `predictions = model(x, training=True)` "
           "and the loss must be computed inside `with tf.GradientTape() as tape:`, and "
           "`tape.gradient(loss_value, model.trainable_weights)` must come after them")
STUB = "the function is still the stub: replace `raise NotImplementedError()` by your code"


# --------------------------------------------------------------------------- numpy reference
def f32(arr: Any) -> np.ndarray:
    """Float64 values that float32 represents exactly (what the kernel's model holds)."""
    return np.asarray(arr, dtype=np.float32).astype(np.float64)


def forward(params: Sequence[np.ndarray], x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """(inputs of each layer, softmax probabilities) of the dense ReLU network."""
    inputs, a = [], np.asarray(x, dtype=np.float64)
    layers = len(params) // 2
    for i in range(layers):
        inputs.append(a)
        z = a @ params[2 * i] + params[2 * i + 1]
        a = np.maximum(z, 0.0) if i < layers - 1 else z
    z = a - a.max(axis=1, keepdims=True)
    e = np.exp(z)
    return inputs, e / e.sum(axis=1, keepdims=True)


def cross_entropy(probs: np.ndarray, y: np.ndarray) -> float:
    """SparseCategoricalCrossentropy(): mean over the batch of -log p[label]."""
    picked = np.clip(probs[np.arange(len(y)), y.astype(int)], EPSILON, 1.0 - EPSILON)
    return float(np.mean(-np.log(picked)))


def gradients(params: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """d(mean cross-entropy)/d(each parameter), by backpropagation."""
    inputs, probs = forward(params, x)
    dz = probs.copy()
    dz[np.arange(len(y)), y.astype(int)] -= 1.0
    dz /= len(y)
    grads: list[np.ndarray] = [np.zeros(0)] * len(params)
    for i in reversed(range(len(params) // 2)):
        grads[2 * i] = inputs[i].T @ dz
        grads[2 * i + 1] = dz.sum(axis=0)
        if i:
            dz = (dz @ params[2 * i].T) * (inputs[i] > 0)
    return grads


def sgd_step(params: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray,
             lr: float) -> tuple[np.ndarray, float, list[np.ndarray]]:
    """(probabilities before the step, loss before the step, parameters after the step)."""
    _, probs = forward(params, x)
    return probs, cross_entropy(probs, y), [p - lr * g for p, g in
                                            zip(params, gradients(params, x, y), strict=True)]


def accuracy_counts(y: np.ndarray, probs: np.ndarray) -> tuple[int, int]:
    """(correct, examples): SparseCategoricalAccuracy by argmax."""
    return int(np.sum(np.argmax(probs, axis=1) == y.astype(int))), len(y)


def top_k_counts(y: np.ndarray, probs: np.ndarray, k: int) -> tuple[int, int]:
    top = np.argsort(probs, axis=1)[:, -k:]
    return int(np.sum(np.any(top == y.astype(int)[:, None], axis=1))), len(y)


# --------------------------------------------------------------------------- challenge parts
def draw_network(rng: np.random.Generator) -> tuple[list[int], dict[str, np.ndarray]]:
    """Layer sizes [inputs, hidden 1, hidden 2, classes] and float32-exact parameters."""
    sizes = [int(rng.integers(6, 13)), int(rng.integers(8, 17)), int(rng.integers(6, 13)),
             int(rng.integers(3, 7))]
    arrays = {}
    for i in range(3):
        fan_in, fan_out = sizes[i], sizes[i + 1]
        arrays[f"W{i}"] = f32(rng.normal(0.0, 1.2 / np.sqrt(fan_in), size=(fan_in, fan_out)))
        arrays[f"b{i}"] = f32(rng.normal(0.0, 0.2, size=fan_out))
    return sizes, arrays


def draw_data(rng: np.random.Generator, n: int, features: int,
              classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs around class centres (so the network's accuracy is not a constant)."""
    centres = rng.normal(0.0, 1.0, size=(classes, features))
    y = rng.integers(0, classes, size=n)
    x = centres[y] + rng.normal(0.0, 1.0, size=(n, features))
    return f32(x), y.astype(np.int64)


def params_of(ch: Challenge, prefix: str = "") -> list[np.ndarray]:
    return [np.asarray(ch.arrays[prefix + name], dtype=np.float64) for name in PARAMS]


def batches(n: int, size: int) -> list[slice]:
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


# --------------------------------------------------------------------------- observation helpers
def error_hint(error: str, default: str) -> str:
    """The likely mistake behind an exception raised by the student's code."""
    low = error.lower()
    if error.startswith("NotImplementedError"):
        return STUB
    if "no gradients provided" in low or "nonetype" in low:
        return NO_TAPE
    if "must have rank" in low or "target.shape" in low or "incompatible shapes" in low:
        return ("loss arguments swapped or wrong shapes: call `loss_object(y, predictions)`, "
                "labels first, predictions second")
    if "has not yet been built" in low:
        return ("train_step returns stale metrics: a metric's result() was read before its "
                "first update_state(); update every metric (`m.update_state(loss)` for the loss "
                "tracker, `m.update_state(y, y_pred)` for the others), then return their result()")
    return default


def returned(obs: Observation, what: str, default_hint: str) -> Any:
    """The decoded ``returned`` entry; an exception fails with its likely cause."""
    value = decode(obs.raw("returned"))
    error = error_text(value)
    if error is not None:
        fail(f"{what} raised {error}", "it to run without an error",
             error_hint(error, default_hint))
    return value


def numbers(values: Any, what: str, hint: str) -> list[float]:
    """A list of scalars (one per batch) from an observed list."""
    if not isinstance(values, list):
        fail(f"{what} is {describe(values)}", "a list with one number per batch", hint)
    return [as_scalar(v, f"{what}[{i}]", hint) for i, v in enumerate(values)]


def weights_after(obs: Observation, key: str = "weights") -> list[np.ndarray]:
    values = decode(obs.raw(key))
    if not isinstance(values, list) or len(values) != len(PARAMS):
        fail(f"the model has {describe(values)} as weights", f"{len(PARAMS)} weight arrays",
             "do not add or remove layers or weights of the model you are given")
    return [as_array(v, f"weight {i}", "keep the model's weights") for i, v in enumerate(values)]


def _fmt(values: Sequence[float]) -> str:
    return np.array2string(np.asarray(values, dtype=np.float64), precision=5, separator=", ")


def _loss_calls_swapped(obs: Observation) -> bool:
    calls = obs.data.get("loss_calls")
    return isinstance(calls, list) and any(
        isinstance(c, dict) and c.get("swapped") is True for c in calls)


def judge_step(observed: list[np.ndarray], start: list[np.ndarray], expected: list[np.ndarray],
               lr: float, steps: int, who: str, how: str) -> None:
    """Weights after a step against the reference; names no step, subset, sign, double step."""
    if all(close(o, e, RTOL, ATOL) for o, e in zip(observed, expected, strict=True)):
        return
    delta = [o - s for o, s in zip(observed, start, strict=True)]
    ref = [e - s for e, s in zip(expected, start, strict=True)]
    moved = [float(np.max(np.abs(d))) > 1e-7 for d in delta]
    should = [float(np.max(np.abs(r))) > 1e-6 for r in ref]
    where = f"after {who} (SGD, learning_rate={lr:g})"
    if not any(moved):
        fail(f"no weight changed {where}", "one optimizer step on every trainable weight",
             "no apply_gradients: the optimizer step is missing; call "
             f"{how} after computing the gradients")
    left_out = [LAYERS[i] for i in range(len(PARAMS)) if should[i] and not moved[i]]
    if left_out:
        fail(f"{len(left_out)} of {len(PARAMS)} trainable weights did not change {where} "
             f"({', '.join(left_out)})", "every trainable weight to take a step",
             "gradients of a subset of the weights: take the gradients with respect to all of "
             "the model's trainable weights and apply them to the same full list")
    if all(close(d, -r, RTOL, ATOL) for d, r in zip(delta, ref, strict=True)):
        fail(f"every weight moved by +learning_rate * gradient {where}",
             "-learning_rate * gradient (a step down the loss)",
             "wrong sign (gradient ascent): the loss or the gradients are negated; minimise "
             "`loss_object(y, predictions)` as it is")
    if steps != 1 and steps > 0:
        fail(f"{who} called the optimizer {steps} times", "exactly one optimizer step",
             "one apply_gradients call per batch")
    worst = max(range(len(PARAMS)), key=lambda i: float(np.max(np.abs(delta[i] - ref[i]))))
    fail(f"{LAYERS[worst]} after the step is {short(observed[worst])}",
         f"{short(expected[worst])} (rtol={RTOL:g}, atol={ATOL:g})",
         "take the gradients of `loss_object(y, model(x, training=True))` with respect to "
         f"the trainable weights inside one tape, and apply them with {how}")


# --------------------------------------------------------------------------- apply_gradient
def apply_gradient_challenge(rng: np.random.Generator) -> Challenge:
    sizes, arrays = draw_network(rng)
    n = int(rng.integers(10, 33))
    arrays["x"], arrays["y"] = draw_data(rng, n, sizes[0], sizes[-1])
    lr = float(np.round(rng.uniform(0.1, 0.6), 3))
    return Challenge({"sizes": sizes, "lr": lr}, arrays)


def apply_gradient_judge(ch: Challenge, obs: Observation) -> None:
    lr, x, y = float(ch["lr"]), ch.arrays["x"], ch.arrays["y"]
    start = params_of(ch)
    probs, loss, after = sgd_step(start, x, y, lr)
    _, probs_late = forward(after, x)
    loss_late = cross_entropy(probs_late, y)
    applied = obs.raw("applied")
    applied = applied if isinstance(applied, list) else []
    nones = sum(int(c.get("none", 0)) for c in applied if isinstance(c, dict))
    what = f"apply_gradient(optimizer, loss_object, model, x, y) on a batch of {len(y)}"
    if _loss_calls_swapped(obs):
        fail("loss_object was called as loss_object(predictions, y): predictions first",
             "loss_object(y, predictions): labels (y_true) first, predictions (y_pred) second",
             "loss arguments swapped")
    if nones:
        fail(f"the optimizer received {nones} gradients that are None", "a gradient tensor for "
             "every trainable weight", NO_TAPE)
    value = returned(obs, what, "run your function on one batch to reproduce the error")
    if not isinstance(value, list) or len(value) != 2:
        fail(f"apply_gradient returned {describe(value)}", "a pair (predictions, loss_value)",
             "end with `return predictions, loss_value`")
    first, second = value
    first_arr = as_array(first, "the first returned value (predictions)",
                         "return the model's output for the batch first")
    if first_arr.size == 1 and as_array(second, "loss", "").shape == probs.shape:
        fail("apply_gradient returned (loss_value, predictions)", "(predictions, loss_value)",
             "return values swapped: end with `return predictions, loss_value`")
    judge_step(weights_after(obs), start, after, lr,
               sum(1 for c in applied if isinstance(c, dict)), "apply_gradient",
               "`optimizer.apply_gradients(zip(gradients, model.trainable_weights))`")
    if first_arr.shape != probs.shape:
        fail(f"the returned predictions have shape {first_arr.shape}", f"shape {probs.shape}",
             "return the model's output for the whole batch, `model(x, training=True)`")
    if not close(first_arr, probs, RTOL, ATOL):
        if close(first_arr, probs_late, RTOL, ATOL):
            fail("the returned predictions are the model's output after the optimizer step",
                 "the output computed inside the tape, before the step",
                 "predictions computed after the optimizer step: return the predictions of the "
                 "forward pass inside the tape")
        fail(f"the returned predictions are {short(first_arr)}", f"{short(probs)}",
             "return the output of `model(x, training=True)` computed inside the tape")
    loss_hint = "return `loss_object(y, predictions)` computed inside the tape, before the step"
    got = as_scalar(second, "the returned loss_value", loss_hint)
    if np.isclose(got, loss, rtol=RTOL, atol=ATOL):
        return
    if np.isclose(got, loss_late, rtol=RTOL, atol=ATOL):
        fail(f"the returned loss is {got:.6g}, the loss of the weights after the step",
             f"{loss:.6g}, the loss before the step",
             "loss computed after the optimizer step: return the loss computed inside the tape")
    if np.isclose(got, loss * len(y), rtol=RTOL, atol=ATOL):
        fail(f"the returned loss is {got:.6g}", f"the mean over the batch, {loss:.6g}",
             "sum instead of mean: the loss object already averages over the batch")
    fail(f"the returned loss is {got:.6g}", f"{loss:.6g} (rtol={RTOL:g})", loss_hint)


# --------------------------------------------------------------------------- one epoch
def _clean_epoch(rng: np.random.Generator) -> tuple[list[int], dict[str, np.ndarray], dict,
                                                   dict]:
    """Network, data and the reference epoch; the last batch's accuracy differs from the
    epoch's, so a metric reset at every batch shows in its value."""
    for _ in range(50):
        sizes, arrays = draw_network(rng)
        size = int(rng.integers(6, 13))
        n = size * int(rng.integers(3, 5)) - int(rng.integers(1, size // 2))
        x, y = draw_data(rng, n, sizes[0], sizes[-1])
        lr = float(np.round(rng.uniform(0.1, 0.5), 3))
        params, losses, correct, last = params_of(Challenge(arrays=arrays)), [], 0, 0.0
        private: dict[str, np.ndarray] = {}
        for k, part in enumerate(batches(n, size)):
            probs, loss, params = sgd_step(params, x[part], y[part], lr)
            hits, count = accuracy_counts(y[part], probs)
            correct, last = correct + hits, hits / count
            losses.append(loss)
            private[f"probs{k}"] = f32(probs)
            for name, value in zip(PARAMS, params, strict=True):
                private[f"after{k}_{name}"] = f32(value)
        if not np.isclose(correct / n, last, atol=1e-9):
            arrays.update({"x": x, "y": y})
            private["losses"] = np.asarray(losses)
            return sizes, arrays, {"batch_size": size, "lr": lr, "batches": k + 1}, private
    raise RuntimeError("could not draw an epoch whose last batch differs")  # pragma: no cover


def train_epoch_challenge(rng: np.random.Generator) -> Challenge:
    sizes, arrays, params, private = _clean_epoch(rng)
    return Challenge({"sizes": sizes, **params}, arrays, private)


def _request_array(value: Any, shape: tuple[int, ...]) -> np.ndarray | None:
    """A float64 array of ``shape`` from an oracle request, or None."""
    try:
        arr = np.asarray(decode(value), dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return arr if arr.shape == shape else None


def train_epoch_oracle(ch: Challenge, state: dict, request: dict) -> dict:
    """Step k of the reference epoch, for an apply_gradient called with batch k on the model
    where step k-1 left it; anything else is refused (and counted)."""
    k = state.setdefault("steps", 0)
    state.setdefault("refused", 0)
    parts = batches(len(ch.arrays["y"]), int(ch["batch_size"]))
    if k >= len(parts):
        state["refused"] += 1
        return {"ok": False, "why": "more calls than batches"}
    part = parts[k]
    x = _request_array(request.get("x"), ch.arrays["x"][part].shape)
    y = _request_array(request.get("y"), ch.arrays["y"][part].shape)
    now = request.get("weights")
    start = params_of(ch) if k == 0 else [ch.private[f"after{k - 1}_{n}"] for n in PARAMS]
    ok = (x is not None and y is not None and close(x, ch.arrays["x"][part], 1e-6, 1e-6)
          and close(y, ch.arrays["y"][part], 0, 0) and isinstance(now, list)
          and len(now) == len(PARAMS))
    if ok:
        current = [_request_array(w, s.shape) for w, s in zip(now, start, strict=True)]
        ok = all(c is not None and close(c, s, 1e-5, 1e-6)
                 for c, s in zip(current, start, strict=True))
    if not ok:
        state["refused"] += 1
        return {"ok": False, "why": "not the next batch of this epoch"}
    state["steps"] = k + 1
    return {"ok": True, "probs": ch.private[f"probs{k}"].tolist(),
            "loss": float(ch.private["losses"][k]),
            "weights": [ch.private[f"after{k}_{n}"].tolist() for n in PARAMS]}


def _metric_events(obs: Observation, key: str = "events") -> list[dict]:
    events = obs.raw(key)
    if not isinstance(events, list):
        fail("the metric's log is malformed", "a list of events", "do not replace the metric")
    return [e for e in events if isinstance(e, dict)]


def _judge_metric_updates(events: list[dict], ch: Challenge, parts: list[slice],
                          probs: list[np.ndarray], late: list[np.ndarray] | None,
                          name: str, fn: str) -> None:
    """update_state once per batch with (labels, predictions of that batch); no reset."""
    y = ch.arrays["y"]
    updates = [e for e in events if e.get("kind") == "update"]
    resets = [i for i, e in enumerate(events) if e.get("kind") == "reset"]
    first_update = next((i for i, e in enumerate(events) if e.get("kind") == "update"), None)
    if first_update is not None and any(i > first_update for i in resets):
        fail(f"{name} was reset inside {fn} ({len(resets)} resets in one epoch)",
             f"no reset_state() in {fn}: the epoch loop reads the metric and resets it",
             "the metric is reset inside the loop: reset it once per epoch, in the epoch loop")
    if len(updates) != len(parts):
        fail(f"{name}.update_state was called {len(updates)} times for {len(parts)} batches",
             "one update per batch",
             f"call `{name}.update_state(y_batch, predictions)` once per batch")
    for k, (event, part) in enumerate(zip(updates, parts, strict=True)):
        true = decode(event.get("y_true"))
        pred = decode(event.get("y_pred"))
        true_arr = np.asarray(true) if isinstance(true, np.ndarray) else None
        pred_arr = np.asarray(pred) if isinstance(pred, np.ndarray) else None
        if true_arr is not None and true_arr.ndim == 2 and pred_arr is not None \
                and pred_arr.ndim == 1:
            fail(f"{name}.update_state was called with (predictions, labels)",
                 "update_state(y_true, y_pred): labels first",
                 "metric arguments swapped: call `update_state(y_batch, predictions)`")
        if true_arr is None or not close(true_arr.ravel(), y[part], 0, 0):
            fail(f"{name}.update_state got labels {describe(true)} for batch {k + 1}",
                 f"the batch's labels {short(y[part])}",
                 f"pass each batch's own labels: `{name}.update_state(y_batch, predictions)`")
        if pred_arr is None or not close(pred_arr, probs[k], RTOL, ATOL):
            if late is not None and pred_arr is not None and close(pred_arr, late[k], RTOL, ATOL):
                fail(f"{name} was updated with the model's output after the optimizer step "
                     f"(batch {k + 1})", "the predictions apply_gradient returned",
                     "predictions computed after the optimizer step: update the metric with "
                     "the predictions returned by apply_gradient")
            fail(f"{name}.update_state got predictions {describe(pred)} for batch {k + 1}",
                 f"the batch's predictions {short(probs[k])}",
                 "update the metric with the predictions of that batch")


def train_epoch_judge(ch: Challenge, obs: Observation) -> None:
    n, size, lr = len(ch.arrays["y"]), int(ch["batch_size"]), float(ch["lr"])
    parts = batches(n, size)
    ref_losses = [float(v) for v in ch.private["losses"]]
    probs = [ch.private[f"probs{k}"] for k in range(len(parts))]
    late = []
    for k, part in enumerate(parts):
        after = [ch.private[f"after{k}_{name}"] for name in PARAMS]
        late.append(forward(after, ch.arrays["x"][part])[1])
    what = (f"train_data_for_one_epoch on {len(parts)} batches of {size} (the last one "
            f"smaller), SGD learning_rate={lr:g}")
    calls = obs.raw("apply_calls")
    calls = [c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []
    if len(calls) > len(parts):
        fail(f"apply_gradient was called more than {len(parts)} times for {len(parts)} "
             "batches", "one call per batch", "call apply_gradient once for every batch of "
             "train_ds (one step per batch), not more")
    value = returned(obs, what, "run your function on two batches to reproduce the error")
    if len(calls) != len(parts):
        fail(f"apply_gradient was called {len(calls)} times for {len(parts)} batches",
             "one call per batch", "call apply_gradient(optimizer, loss_object, model, "
             "x_batch, y_batch) once for every batch of train_ds")
    for k, c in enumerate(calls):
        wrong = [arg for arg in ("optimizer", "loss_object", "model") if c.get(arg) is not True]
        if wrong:
            fail(f"apply_gradient got another {', '.join(wrong)} than the one passed to "
                 "train_data_for_one_epoch", "the function's own arguments",
                 f"pass train_data_for_one_epoch's own {', '.join(wrong)} (not the notebook's "
                 "globals) to apply_gradient")
        if c.get("x") is not True or c.get("y") is not True:
            fail(f"call {k + 1} of apply_gradient got another batch than batch {k + 1} of "
                 "train_ds", "each batch once, in order",
                 "loop `for x_batch, y_batch in train_ds:` and pass x_batch, y_batch")
    steps = int((obs.served or {}).get("steps", 0))
    if steps != len(parts):
        fail(f"only {steps} of the {len(parts)} calls of apply_gradient were the epoch's next "
             "step (the batch in order, on the model where the previous step left it)",
             "one call per batch, in order", "call apply_gradient(optimizer, loss_object, "
             "model, x_batch, y_batch) once per batch with the function's own model")
    hint = "append each batch's loss (`float(loss_value)`) to a list and return the list"
    losses = numbers(value, "the returned losses", hint)
    if len(losses) != len(ref_losses):
        fail(f"train_data_for_one_epoch returned {len(losses)} losses",
             f"a list of {len(ref_losses)} (one per batch)", hint)
    if not close(losses, ref_losses, RTOL, ATOL):
        running = np.cumsum(ref_losses) / np.arange(1, len(ref_losses) + 1)
        if close(losses, running, RTOL, ATOL):
            hint = "append each batch's own loss, not the running mean"
        fail(f"the returned losses are {_fmt(losses)}",
             f"{_fmt(ref_losses)}, the losses apply_gradient returned", hint)
    events = _metric_events(obs)
    _judge_metric_updates(events, ch, parts, probs, late, "train_acc_metric",
                          "train_data_for_one_epoch")
    final = as_scalar(decode(obs.raw("metric_result")), "train_acc_metric.result()",
                      "do not replace the metric")
    correct = sum(accuracy_counts(ch.arrays["y"][p], q)[0] for p, q in
                  zip(parts, probs, strict=True))
    if not np.isclose(final, correct / n, atol=1e-6):
        last = accuracy_counts(ch.arrays["y"][parts[-1]], probs[-1])
        if np.isclose(final, last[0] / last[1], atol=1e-6):
            fail(f"train_acc_metric is {final:.4f} after the epoch, the last batch's accuracy",
                 f"{correct / n:.4f}, the accuracy over the whole epoch",
                 "the metric is reset inside the loop: reset it once per epoch, in the epoch "
                 "loop")
        fail(f"train_acc_metric is {final:.4f} after the epoch", f"{correct / n:.4f}",
             "call `train_acc_metric.update_state(y_batch, predictions)` once per batch")


# --------------------------------------------------------------------------- validation
def validation_challenge(rng: np.random.Generator) -> Challenge:
    sizes, arrays = draw_network(rng)
    size = int(rng.integers(6, 13))
    n = size * int(rng.integers(2, 4)) + int(rng.integers(1, size))
    arrays["x"], arrays["y"] = draw_data(rng, n, sizes[0], sizes[-1])
    lr = float(np.round(rng.uniform(0.1, 0.5), 3))  # for an optimizer the kernel may misuse
    return Challenge({"sizes": sizes, "batch_size": size, "lr": lr}, arrays)


def validation_judge(ch: Challenge, obs: Observation) -> None:
    x, y, size = ch.arrays["x"], ch.arrays["y"], int(ch["batch_size"])
    params, parts = params_of(ch), batches(len(y), size)
    what = f"perform_validation(test_ds, model, loss_object, val_acc_metric) on {len(parts)} " \
           f"batches"
    trains = ("validation trains the model: do a forward pass only, `predictions = "
              "model(x_val, training=False)`, with no tape and no optimizer step")
    names = obs.data.get("parameters")
    if isinstance(names, list) and "model" in names and "loss_object" in names \
            and names.index("loss_object") < names.index("model"):
        fail(f"perform_validation takes ({', '.join(map(str, names))})",
             "perform_validation(test_ds, model, loss_object, val_acc_metric)",
             "parameters in the old order: the model comes second, the loss object third "
             "(the same order as in notebook 3)")
    weights = weights_after(obs)
    moved = [LAYERS[i] for i, (w, p) in enumerate(zip(weights, params, strict=True))
             if not close(w, p, 0, 1e-7)]
    if moved:
        fail(f"perform_validation changed the model's weights ({', '.join(moved)})",
             "no weight change at all", trains)
    value = decode(obs.raw("returned"))
    error = error_text(value)
    if error is not None:
        hint = trains if any(w in error.lower() for w in ("optimizer", "apply_gradient")) \
            else error_hint(error, "run your function on one batch to reproduce the error")
        fail(f"{what} raised {error}", "it to run without an error", hint)
    if _loss_calls_swapped(obs):
        fail("loss_object was called as loss_object(predictions, y_val): predictions first",
             "loss_object(y_val, predictions)", "loss arguments swapped")
    probs = [forward(params, x[p])[1] for p in parts]
    ref_losses = [cross_entropy(q, y[p]) for p, q in zip(parts, probs, strict=True)]
    hint = "append each batch's validation loss to a list and return the list"
    losses = numbers(value, "the returned losses", hint)
    if len(losses) != len(ref_losses):
        fail(f"perform_validation returned {len(losses)} losses",
             f"a list of {len(ref_losses)} (one per batch)", hint)
    if not close(losses, ref_losses, RTOL, ATOL):
        fail(f"the returned validation losses are {_fmt(losses)}", _fmt(ref_losses),
             "compute `loss_object(y_val, model(x_val, training=False))` for each batch")
    _judge_metric_updates(_metric_events(obs), ch, parts, probs, None, "val_acc_metric",
                          "perform_validation")
    final = as_scalar(decode(obs.raw("metric_result")), "val_acc_metric.result()",
                      "do not replace the metric")
    correct = sum(accuracy_counts(y[p], q)[0] for p, q in zip(parts, probs, strict=True))
    if not np.isclose(final, correct / len(y), atol=1e-6):
        fail(f"val_acc_metric is {final:.4f} after validation", f"{correct / len(y):.4f}",
             "call `val_acc_metric.update_state(y_val, predictions)` once per batch")


# --------------------------------------------------------------------------- the epoch loop
def _replayed_epoch(rng: np.random.Generator, classes: int, batch_count: int, size: int,
                    rate: float) -> tuple[list[np.ndarray], list[np.ndarray], int, int]:
    """Labels and predictions of one replayed epoch, about ``rate`` of them right."""
    ys, ps, correct, total = [], [], 0, 0
    for _ in range(batch_count):
        y = rng.integers(0, classes, size=size)
        logits = rng.normal(0.0, 1.0, size=(size, classes))
        right = rng.random(size) < rate
        top = np.where(right, y, (y + rng.integers(1, classes, size=size)) % classes)
        logits[np.arange(size), top] = logits.max(axis=1) + rng.uniform(0.5, 2.0, size=size)
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        ys.append(y.astype(np.int64))
        ps.append(f32(probs))
        correct, total = correct + int(np.sum(right)), total + size
    return ys, ps, correct, total


def loop_challenge(rng: np.random.Generator) -> Challenge:
    """Replayed epochs whose accuracies differ (so cumulative, zero and per-epoch values all
    differ), positive losses that fall, and a model/datasets to pass through."""
    sizes, arrays = draw_network(rng)
    private: dict[str, np.ndarray] = {}
    epochs = int(rng.integers(3, 6))  # never the notebook's EPOCHS (2 in fast mode, 10 in full)
    plan = {"train": (int(rng.integers(2, 5)), int(rng.integers(4, 9))),
            "val": (int(rng.integers(1, 4)), int(rng.integers(4, 9)))}
    for _ in range(100):
        rates, ok = {}, True
        for tag, (count, size) in plan.items():
            seen = set()
            per, hits, total = [], 0, 0
            for e in range(epochs):
                ys, ps, c, t = _replayed_epoch(rng, sizes[-1], count, size,
                                               0.3 + 0.5 * e / epochs)
                for b in range(count):
                    private[f"{tag}_y_{e}_{b}"], private[f"{tag}_p_{e}_{b}"] = ys[b], ps[b]
                hits, total = hits + c, total + t
                per.append(c / t)
                ok &= c > 0 and round(c / t, 9) not in seen
                ok &= e == 0 or not np.isclose(hits / total, c / t, atol=1e-6)
                seen.add(round(c / t, 9))
            rates[tag] = per
        if ok:
            break
    for tag, (count, _size) in plan.items():
        base = rng.uniform(0.6, 2.0)
        private[f"{tag}_losses"] = np.round(
            base * np.exp(-0.3 * np.arange(epochs))[:, None] * rng.uniform(0.7, 1.3,
                                                                          (epochs, count)), 6)
    arrays["x_train"], arrays["y_train"] = draw_data(rng, 8, sizes[0], sizes[-1])
    arrays["x_val"], arrays["y_val"] = draw_data(rng, 4, sizes[0], sizes[-1])
    return Challenge({"sizes": sizes, "epochs": epochs, "lr": 0.1,
                      "train_batches": plan["train"][0], "val_batches": plan["val"][0]}, arrays,
                     private)


def loop_oracle(ch: Challenge, state: dict, request: dict) -> dict:
    """Epoch e of the replayed training or validation: labels, predictions, losses. The
    replay in the kernel logs its arguments; the oracle only counts (one epoch per call)."""
    tag = request.get("tag")
    if tag not in ("train", "val"):
        return {"ok": False, "why": "unknown replay"}
    e = state.setdefault(f"{tag}_epochs", 0)
    if e >= int(ch["epochs"]):
        state[f"{tag}_refused"] = state.get(f"{tag}_refused", 0) + 1
        return {"ok": False, "why": "more calls than epochs"}
    state[f"{tag}_epochs"] = e + 1
    count = int(ch[f"{tag}_batches"])
    return {"ok": True,
            "y": [ch.private[f"{tag}_y_{e}_{b}"].tolist() for b in range(count)],
            "p": [ch.private[f"{tag}_p_{e}_{b}"].tolist() for b in range(count)],
            "losses": ch.private[f"{tag}_losses"][e].tolist()}


def _loop_expectations(ch: Challenge, tag: str) -> tuple[list[float], list[float]]:
    """Per-epoch and cumulative accuracy of the replayed updates of one metric."""
    per, cumulative, hits, total = [], [], 0, 0
    for e in range(int(ch["epochs"])):
        c = t = 0
        for b in range(int(ch[f"{tag}_batches"])):
            h, n = accuracy_counts(ch.private[f"{tag}_y_{e}_{b}"],
                                   ch.private[f"{tag}_p_{e}_{b}"])
            c, t = c + h, t + n
        hits, total = hits + c, total + t
        per.append(c / t)
        cumulative.append(hits / total)
    return per, cumulative


def _judge_calls(obs: Observation, key: str, fn: str, signature: str, epochs: int,
                 metric: str) -> None:
    calls = obs.raw(key)
    calls = [c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []
    if len(calls) != epochs:
        fail(f"fit_custom called {fn} {len(calls)} times in {epochs} epochs",
             "one call per epoch", f"call `{signature}` once per epoch, for `epochs` epochs "
             "(the argument, not a global EPOCHS)")
    for c in calls:
        got = c.get("args")
        if not isinstance(got, dict):
            fail(f"the log of {fn} is malformed", "its arguments", "do not replace it")
        wrong = {k: v for k, v in got.items() if v != k}
        if wrong:
            text = ", ".join(f"{k} got {v}" for k, v in wrong.items())
            fail(f"{fn} was called with the wrong arguments ({text})", signature,
                 f"pass fit_custom's own arguments in this order: `{signature}`")


def loop_judge(ch: Challenge, obs: Observation) -> None:
    epochs = int(ch["epochs"])
    what = f"fit_custom(..., epochs={epochs})"
    for key, fn in (("train_calls", "train_data_for_one_epoch"),
                    ("val_calls", "perform_validation")):
        calls = obs.raw(key)
        if isinstance(calls, list) and len(calls) > epochs:
            fail(f"fit_custom called {fn} more than {epochs} times for epochs={epochs}",
                 "one call per epoch", "loop `for epoch in range(epochs):` over the epochs "
                 "argument (not a global EPOCHS)")
    history = returned(obs, what, "run fit_custom for 2 epochs on two batches to reproduce it")
    keys = ("loss", "accuracy", "val_loss", "val_accuracy")
    if not isinstance(history, dict) or any(k not in history for k in keys):
        got = sorted(history) if isinstance(history, dict) else describe(history)
        fail(f"fit_custom returned {got}", f"a dict with keys {list(keys)}",
             "collect each epoch's values with `history[key].append(...)` and return history")
    _judge_calls(obs, "train_calls", "train_data_for_one_epoch",
                 "train_data_for_one_epoch(train_ds, optimizer, loss_object, model, "
                 "train_acc_metric)", epochs, "train_acc_metric")
    _judge_calls(obs, "val_calls", "perform_validation",
                 "perform_validation(test_ds, model, loss_object, val_acc_metric)", epochs,
                 "val_acc_metric")
    for key in keys:
        values = numbers(history[key], f"history[{key!r}]",
                         "append one number per epoch")
        if len(values) != epochs:
            fail(f"history[{key!r}] has {len(values)} values after {epochs} epochs",
                 f"{epochs} (one per epoch)", "append one value per epoch, after its batches")
    for tag, key in (("train", "loss"), ("val", "val_loss")):
        table = ch.private[f"{tag}_losses"]
        got = numbers(history[key], key, "")
        want = [float(np.mean(row)) for row in table]
        if close(got, want, RTOL, ATOL):
            continue
        hint = f"store the mean of the epoch's batch losses in history[{key!r}]"
        if close(got, [float(np.sum(row)) for row in table], RTOL, ATOL):
            hint = "sum instead of mean: store np.mean of the epoch's losses"
        elif close(got, [float(row[-1]) for row in table], RTOL, ATOL):
            hint = "only the last batch's loss was stored: store the mean of the epoch's losses"
        fail(f"history[{key!r}] is {_fmt(got)}", f"{_fmt(want)}, the mean loss of each epoch",
             hint)
    for tag, key, metric in (("train", "accuracy", "train_acc_metric"),
                             ("val", "val_accuracy", "val_acc_metric")):
        per, cumulative = _loop_expectations(ch, tag)
        got = numbers(history[key], key, "")
        if close(got, per, 0, 1e-6):
            continue
        if close(got[1:], cumulative[1:], 0, 1e-6) and close(got[:1], per[:1], 0, 1e-6):
            fail(f"history[{key!r}] is {_fmt(got)}, the accuracy over all epochs so far",
                 f"{_fmt(per)}, each epoch's own accuracy",
                 f"metric never reset: call `{metric}.reset_state()` at the end of each epoch, "
                 "after reading its result")
        if all(v == 0.0 for v in got):
            fail(f"history[{key!r}] is {_fmt(got)}", f"{_fmt(per)}",
                 f"metric reset before its result was read: call `{metric}.result()` first, "
                 f"then `{metric}.reset_state()`")
        fail(f"history[{key!r}] is {_fmt(got)}", f"{_fmt(per)}, each epoch's accuracy",
             f"store `float({metric}.result())` once per epoch, after all its batches, then "
             "reset the metric")
    for key, metric in (("train_calls", "train_acc_metric"), ("val_calls", "val_acc_metric")):
        for e, c in enumerate(obs.raw(key)):
            count = c.get("count_at_start")
            if count not in (0, 0.0):
                fail(f"{metric} still held {describe(count)} examples when epoch {e + 1} "
                     "started", "every metric back to zero at the start of each epoch",
                     f"metric never reset: call `{metric}.reset_state()` at the end of each "
                     "epoch, after reading its result")
    after = obs.raw("counts_after")
    for tag, metric in (("train", "train_acc_metric"), ("val", "val_acc_metric")):
        count = after.get(tag) if isinstance(after, dict) else None
        one_epoch = sum(len(ch.private[f"{tag}_y_{epochs - 1}_{b}"])
                        for b in range(int(ch[f"{tag}_batches"])))
        if not isinstance(count, (int, float)) or count > one_epoch:
            fail(f"{metric} holds {describe(count)} examples after fit_custom",
                 f"at most one epoch's {one_epoch}",
                 f"metric never reset: call `{metric}.reset_state()` at the end of each epoch")


# --------------------------------------------------------------------------- train_step
def train_step_challenge(rng: np.random.Generator) -> Challenge:
    sizes, arrays = draw_network(rng)
    n = int(rng.integers(10, 33))
    arrays["x"], arrays["y"] = draw_data(rng, n, sizes[0], sizes[-1])
    lr = float(np.round(rng.uniform(0.1, 0.6), 3))
    return Challenge({"sizes": sizes, "lr": lr}, arrays)


def train_step_judge(ch: Challenge, obs: Observation) -> None:
    lr, x, y = float(ch["lr"]), ch.arrays["x"], ch.arrays["y"]
    start = params_of(ch)
    probs, loss, after = sgd_step(start, x, y, lr)
    what = f"model.fit with your train_step (one batch of {len(y)}, SGD learning_rate={lr:g})"
    logs = returned(obs, what, "run `fit` on one batch to reproduce the error")
    weights = weights_after(obs)
    if all(close(w, p, 0, 1e-7) for w, p in zip(weights, start, strict=True)):
        fail("the weights did not change after fit()", "one optimizer step per batch",
             "train_step skips the optimizer: call `self.optimizer.apply_gradients(zip("
             "gradients, self.trainable_variables))`")
    judge_step(weights, start, after, lr, 1, "train_step",
               "`self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))`")
    expected = {"loss": loss, "accuracy": accuracy_counts(y, probs)[0] / len(y),
                "top2": top_k_counts(y, probs, 2)[0] / len(y)}
    if not isinstance(logs, dict):
        fail(f"fit's logs are {describe(logs)}", "a dict", "return a dict from train_step")
    for name, want in expected.items():
        if name not in logs:
            fail(f"the logs returned by train_step have keys {sorted(logs)}",
                 f"the loss and every compiled metric by name ({sorted(expected)})",
                 "return `{m.name: m.result() for m in self.metrics}` after updating them")
        value = logs[name]
        value = value[-1] if isinstance(value, list) and value else value
        got = as_scalar(value, f"logs[{name!r}]", "return each metric's result()")
        if np.isclose(got, want, rtol=RTOL, atol=ATOL):
            continue
        if got == 0.0:
            fail(f"logs[{name!r}] is 0 after one batch", f"{want:.6f}",
                 "train_step returns stale metrics: update every metric (`m.update_state(loss)` "
                 "for the loss tracker, `m.update_state(y, y_pred)` for the others) before "
                 "returning their result()")
        fail(f"logs[{name!r}] is {got:.6g}", f"{want:.6g}, the batch's value",
             "update the loss tracker with the loss and the other metrics with (y, y_pred), "
             "then return their result()")


EXERCISES = {
    "apply_gradient_updates_weights": Exercise(apply_gradient_challenge, apply_gradient_judge),
    "train_data_for_one_epoch_losses": Exercise(train_epoch_challenge, train_epoch_judge,
                                                train_epoch_oracle),
    "perform_validation_does_not_train": Exercise(validation_challenge, validation_judge),
    "fit_custom_resets_metrics": Exercise(loop_challenge, loop_judge, loop_oracle),
    "train_step_matches_reference": Exercise(train_step_challenge, train_step_judge),
}
