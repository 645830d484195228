"""Tests of notebook 1 (``training_basics``): its observers + judge, and its answer variants.

The fast tests run each grade cell's observer in-process on small Python implementations and
judge the observation (:func:`autograder.judge.local.run`, fresh challenges every time): right
ones pass, each typical mistake fails with a message naming it, and a mistake in a function an
exercise builds on costs nothing in that exercise (the judge's replay stubs).
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from autograder.judge import local
from autograder.judge import training_basics as judge
from autograder.observe import training_basics as observe
from autograder.qa import variants

ASSIGNMENT = "training_basics"


# --------------------------------------------------------------------------- implementations
def derivative_ok(f, x):
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    return tape.gradient(y, x)


def derivative_value(f, x):
    return f(tf.convert_to_tensor(x, dtype=tf.float32))


def derivative_no_watch(f, x):
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    with tf.GradientTape() as tape:
        y = f(x)
    return tape.gradient(y, x)


def derivative_watch_float(f, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    return tape.gradient(y, x)


def mse(p, t):
    return tf.reduce_mean(tf.square(p - t))


def mse_sum(p, t):
    return tf.reduce_sum(tf.square(p - t))


def mse_last_axis(p, t):
    return tf.reduce_mean(tf.square(p - t), axis=-1)


def mae(p, t):
    return tf.reduce_mean(tf.abs(p - t))


def rmse(p, t):
    return tf.sqrt(tf.reduce_mean(tf.square(p - t)))


def mse_numpy(p, t):
    return np.mean((np.asarray(p) - np.asarray(t)) ** 2)


def make_train(update=None, loss=mse, returns_after=False):
    """A train step whose update rule ``update(model, dw, db, lr)`` can be a mistake."""

    def default_update(model, dw, db, lr):
        model.w.assign_sub(lr * dw)
        model.b.assign_sub(lr * db)

    def train(model, inputs, outputs, learning_rate):
        with tf.GradientTape() as tape:
            current = loss(model(inputs), outputs)
        dw, db = tape.gradient(current, [model.w, model.b])
        (update or default_update)(model, dw, db, learning_rate)
        if returns_after:
            return loss(model(inputs), outputs)
        return current

    return train


def _sub(w_step, b_step):
    def update(model, dw, db, lr):
        model.w.assign_sub(w_step(dw, db, lr))
        model.b.assign_sub(b_step(dw, db, lr))

    return update


TRAIN_MISTAKES = {
    "sign": (_sub(lambda dw, db, lr: -lr * dw, lambda dw, db, lr: -lr * db), "wrong sign"),
    "swapped": (_sub(lambda dw, db, lr: lr * db, lambda dw, db, lr: lr * dw), "swapped"),
    "b_with_dw": (_sub(lambda dw, db, lr: lr * dw, lambda dw, db, lr: lr * dw),
                  "b was updated with dL/dw"),
    "w_with_db": (_sub(lambda dw, db, lr: lr * db, lambda dw, db, lr: lr * db),
                  "w was updated with dL/db"),
    "skipped": (lambda model, dw, db, lr: None, "assign_sub called"),
    "lr_ignored": (_sub(lambda dw, db, lr: dw, lambda dw, db, lr: db), "learning rate ignored"),
    "only_w": (_sub(lambda dw, db, lr: lr * dw, lambda dw, db, lr: 0.0 * db), "b unchanged"),
    "only_b": (_sub(lambda dw, db, lr: 0.0 * dw, lambda dw, db, lr: lr * db), "w unchanged"),
    "fixed_lr": (_sub(lambda dw, db, lr: 0.1 * dw, lambda dw, db, lr: 0.1 * db),
                 "learning_rate argument"),
    "assign": (lambda model, dw, db, lr: (model.w.assign(-lr * dw), model.b.assign(-lr * db)),
               "assign instead of assign_sub"),
}


def touches_extra(model, dw, db, lr):
    model.w.assign_sub(lr * dw)
    model.b.assign_sub(lr * db)
    model.untouched.assign_add([1.0, 1.0])


def make_fit(train, record="before", extra=False, append_variable=False, use_model=None,
             epochs_override=None):
    def fit(model, inputs, outputs, epochs, learning_rate):
        model = use_model or model
        ws, bs, losses = [], [], []
        if extra:
            ws.append(model.w.numpy())
            bs.append(model.b.numpy())
            losses.append(float(mse(model(inputs), outputs)))
        for _ in range(epochs_override or epochs):
            if record == "before":
                ws.append(model.w if append_variable else model.w.numpy())
                bs.append(model.b if append_variable else model.b.numpy())
            current = train(model, inputs, outputs, learning_rate)
            if record == "after":
                ws.append(model.w.numpy())
                bs.append(model.b.numpy())
            losses.append(current)
        return ws, bs, losses

    return fit


def _run(grade_id, fn, seed=None):
    return local.run(ASSIGNMENT, grade_id, fn, seed=seed)


def _fails(grade_id, fn, match: str) -> str:
    verdict = _run(grade_id, fn)
    assert not verdict.passed and verdict.score == 0, verdict
    assert match.lower() in verdict.message.lower(), verdict.message
    assert "expected" in verdict.message and "Likely mistake" in verdict.message, verdict.message
    return verdict.message


def _passes(grade_id, fn, seeds=(0, 1, 2)) -> None:
    for seed in seeds:
        verdict = _run(grade_id, fn, seed)
        assert verdict.passed, (seed, verdict.message)


# Module-level functions: the observers replace `loss` / `train` in these globals while the
# exercise that builds on them is observed.
def loss(p, t):
    return tf.reduce_sum(tf.square(p - t))  # wrong on purpose (sum instead of mean)


def train(model, inputs, outputs, learning_rate):
    with tf.GradientTape() as tape:
        current = loss(model(inputs), outputs)
    dw, db = tape.gradient(current, [model.w, model.b])
    model.w.assign_add(learning_rate * dw)  # wrong on purpose (gradient ascent)
    model.b.assign_add(learning_rate * db)
    return current


def train_with_global_loss(model, inputs, outputs, learning_rate):
    with tf.GradientTape() as tape:
        current = loss(model(inputs), outputs)
    dw, db = tape.gradient(current, [model.w, model.b])
    model.w.assign_sub(learning_rate * dw)
    model.b.assign_sub(learning_rate * db)
    return current


def fit_with_global_train(model, inputs, outputs, epochs, learning_rate):
    ws, bs, losses = [], [], []
    for _ in range(epochs):
        ws.append(model.w.numpy())
        bs.append(model.b.numpy())
        losses.append(float(train(model, inputs, outputs, learning_rate)))
    return ws, bs, losses


# --------------------------------------------------------------------------- derivative
def test_derivative_correct_passes():
    _passes("derivative_matches_analytic", derivative_ok)


@pytest.mark.parametrize(
    ("impl", "match"),
    [(derivative_value, "function value"), (derivative_no_watch, "tape.watch"),
     (derivative_watch_float, "convert_to_tensor")],
)
def test_derivative_mistakes_are_named(impl, match):
    _fails("derivative_matches_analytic", impl, match)


def test_derivative_reference_matches_a_fresh_tape():
    for name, (_, _, df) in judge.FUNCTIONS.items():
        for point in (-1.5, 0.3, 1.7):
            x = tf.Variable(point, dtype=tf.float64)
            with tf.GradientTape() as tape:
                y = observe.FUNCTIONS[name](x)
            np.testing.assert_allclose(tape.gradient(y, x).numpy(), df(point), rtol=1e-10)


# --------------------------------------------------------------------------- loss
def test_loss_correct_passes():
    _passes("loss_is_mean_squared_error", mse)
    _passes("loss_is_mean_squared_error",
            lambda p, t: tf.reduce_mean(tf.math.squared_difference(p, t)), seeds=(3,))


@pytest.mark.parametrize(
    ("impl", "match"),
    [(mse_sum, "sum instead of mean"), (mse_last_axis, "one axis only"), (mae, "absolute"),
     (rmse, "sqrt"), (mse_numpy, "not differentiable"),
     (lambda p, t: tf.reduce_mean(p - t), "not squared")],
)
def test_loss_mistakes_are_named(impl, match):
    _fails("loss_is_mean_squared_error", impl, match)


# --------------------------------------------------------------------------- train
def test_train_correct_passes():
    _passes("train_updates_w_and_b", make_train())
    _passes("train_returns_loss_before_update", make_train())


@pytest.mark.parametrize("name", sorted(TRAIN_MISTAKES))
def test_train_update_mistakes_are_named(name):
    update, match = TRAIN_MISTAKES[name]
    _fails("train_updates_w_and_b", make_train(update), match)


def test_gradient_ascent_is_named_as_a_sign_error():
    _fails("train_updates_w_and_b", train, "wrong sign (gradient ascent)")


def test_a_wrong_loss_costs_nothing_in_train():
    """train calls the global loss(), which is wrong here: the judge's replay stands in."""
    _passes("train_updates_w_and_b", train_with_global_loss)
    _passes("train_returns_loss_before_update", train_with_global_loss)


def test_train_touching_another_variable_fails():
    _fails("train_updates_w_and_b", make_train(touches_extra), "only model.w and model.b")


def test_train_returning_loss_after_update_is_named():
    step = make_train(returns_after=True)
    _passes("train_updates_w_and_b", step, seeds=(0,))  # the update itself is right
    _fails("train_returns_loss_before_update", step, "loss returned after the update")


def test_train_returning_nothing_fails():
    def returns_nothing(model, inputs, outputs, learning_rate):
        make_train()(model, inputs, outputs, learning_rate)

    _fails("train_returns_loss_before_update", returns_nothing, "is None")


def test_train_without_watched_gradients_is_told_not_a_raw_error():
    def forward_outside_tape(model, inputs, outputs, learning_rate):
        current = mse(model(inputs), outputs)
        with tf.GradientTape() as tape:
            pass
        dw, db = tape.gradient(current, [model.w, model.b])
        model.w.assign_sub(learning_rate * dw)
        return current

    message = _fails("train_updates_w_and_b", forward_outside_tape, "raised")
    assert "Likely mistake" in message


# --------------------------------------------------------------------------- fit
def test_fit_correct_passes():
    _passes("fit_records_history", make_fit(make_train()))
    _passes("fit_records_history", fit_with_global_train)


def test_a_wrong_train_costs_nothing_in_fit():
    """fit calls the global train(), which steps uphill here: the replay stands in."""
    _passes("fit_records_history", fit_with_global_train)


def test_reference_fit_lowers_the_loss():
    xs, ys = judge.make_data(np.random.default_rng(0), 32)
    _, _, losses = judge.reference_fit(xs, ys, 0.5, -0.25, epochs=20, lr=0.15)
    assert len(losses) == 20 and all(np.diff(losses) < 0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"record": "after"}, "recorded after the step"),
     ({"extra": True}, "extra entry"),
     ({"append_variable": True}, "not the Variable"),
     ({"epochs_override": 3}, "not a global EPOCHS"),
     ({"use_model": "global"}, "not the global model")],
)
def test_fit_mistakes_are_named(kwargs, match):
    if kwargs.get("use_model") == "global":
        kwargs = {"use_model": observe.CheckModel(2.0, 1.0)}
    _fails("fit_records_history", make_fit(make_train(), **kwargs), match)


def test_fit_with_loss_recorded_after_update_is_named():
    def fit(model, inputs, outputs, epochs, learning_rate):
        ws, bs, losses = [], [], []
        for _ in range(epochs):
            ws.append(model.w.numpy())
            bs.append(model.b.numpy())
            train(model, inputs, outputs, learning_rate)
            losses.append(float(mse(model(inputs), outputs)))
        return ws, bs, losses

    _fails("fit_records_history", fit, "losses is")


# --------------------------------------------------------------------------- fail closed
def test_a_missing_observation_scores_zero():
    def raises_before_anything(*_):
        raise SystemExit  # not an Exception: the observer cannot record

    with pytest.raises(SystemExit):
        _run("loss_is_mean_squared_error", raises_before_anything)


def test_a_forged_observation_without_the_right_numbers_scores_zero(tmp_path):
    from autograder.judge import protocol

    challenges = protocol.make_challenges(ASSIGNMENT, 7)
    forged = {"values": [{"__nd__": [[], "float64", [1.0]]}] * 4, "gradient": None}
    exercise = protocol.exercises(ASSIGNMENT)["loss_is_mean_squared_error"]
    verdict = protocol.judge_one("loss_is_mean_squared_error", exercise,
                                 challenges["loss_is_mean_squared_error"], forged, 2.0)
    assert verdict.score == 0 and "expected the mean squared error" in verdict.message
    malformed = protocol.judge_one("loss_is_mean_squared_error", exercise,
                                   challenges["loss_is_mean_squared_error"], {"x": 1}, 2.0)
    assert malformed.score == 0 and "has no 'values'" in malformed.message


def test_observers_carry_no_expected_values():
    """The kernel-side module must not know the references (the judge's job)."""
    import inspect

    source = inspect.getsource(observe)
    for needle in ("reduce_mean", "np.mean", "reduce_sum", "assign_sub", "autograder.judge"):
        assert needle not in source, needle


# --------------------------------------------------------------------------- variants
def test_variants_are_well_formed():
    found = variants.discover(ASSIGNMENT)
    kinds = [v.kind for v in found]
    assert kinds.count("correct") >= 4 and kinds.count("mutant") >= 8, kinds
    for v in found:
        if not v.is_correct:
            assert v.message, f"{v.name}: a mutant must name its message"


def test_challenge_files_hold_no_reference_values(tmp_path):
    """What the kernel can read (the challenge files) holds inputs only: the replayed values
    stay with the judge's oracle."""
    import json

    from autograder.judge import protocol

    challenges = protocol.make_challenges(ASSIGNMENT, 11)
    protocol.write_challenges(tmp_path, challenges, "n")
    fit = challenges["fit_records_history"]
    text = (tmp_path / "fit_records_history.json").read_text()
    assert fit.private and all(name not in text for name in fit.private)
    for loss in fit.private["losses"]:
        assert repr(float(loss))[:8] not in text
    train = json.loads((tmp_path / "train_updates_w_and_b.json").read_text())
    assert not set(train["params"]) & {"loss0", "loss1"}
    assert not set(train["arrays"]) & {"dloss0", "dloss1", "pred0", "pred1"}


def test_the_fit_oracle_serves_only_the_next_step():
    ch = judge.fit_challenge(np.random.default_rng(3))
    state: dict = {}
    ws, bs = ch.private["ws"], ch.private["bs"]
    request = {"w": float(ws[0]), "b": float(bs[0]), "inputs": ch.arrays["xs"].tolist(),
               "outputs": ch.arrays["ys"].tolist(), "learning_rate": float(ch["lr"])}
    assert judge.fit_oracle(ch, state, dict(request, w=float(ws[0]) + 0.5))["ok"] is False
    first = judge.fit_oracle(ch, state, request)
    assert first["ok"] and np.isclose(first["w"], ws[1]) and state["steps"] == 1
    assert judge.fit_oracle(ch, state, request)["ok"] is False  # the same step again
    assert judge.fit_oracle(ch, state, dict(request, w=first["w"], b=first["b"]))["ok"]
    assert state == {"steps": 2, "refused": 2}


def test_an_unanswered_exercise_is_told_so():
    def derivative(f, x):
        raise NotImplementedError()

    verdict = _run("derivative_matches_analytic", derivative)
    assert verdict.score == 0 and "not answered yet" in verdict.message, verdict.message
    assert "tape.watch" not in verdict.message
