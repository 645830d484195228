"""Tests of the notebook ``training_basics``: its hidden checks and its answer variants.

The fast tests call the check functions in-process with small Python implementations (right
ones must pass, each typical mistake must raise ``CheckFailure`` naming it). The slow test
grades every variant of ``examples/variants/training_basics`` in fresh kernels.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from autograder import variants
from autograder.checks import CheckFailure
from autograder.checks import training_basics as chk

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


def _fails(check, *args, match: str, **kwargs) -> str:
    with pytest.raises(CheckFailure) as info:
        check(*args, **kwargs)
    message = str(info.value)
    assert match.lower() in message.lower(), message
    assert "expected" in message and "Likely mistake" in message, message
    return message


# --------------------------------------------------------------------------- derivative
def test_derivative_correct_passes():
    chk.check_derivative(derivative_ok)


@pytest.mark.parametrize(
    ("impl", "match"),
    [(derivative_value, "function value"), (derivative_no_watch, "tape.watch"),
     (derivative_watch_float, "convert_to_tensor")],
)
def test_derivative_mistakes_are_named(impl, match):
    _fails(chk.check_derivative, impl, match=match)


def test_derivative_reference_matches_a_fresh_tape():
    for fn in chk.FUNCTIONS:
        for point in chk.POINTS:
            x = tf.Variable(point, dtype=tf.float64)
            with tf.GradientTape() as tape:
                y = fn.tf_fn(x)
            np.testing.assert_allclose(tape.gradient(y, x).numpy(), fn.np_derivative(point),
                                       rtol=1e-10)


# --------------------------------------------------------------------------- loss
def test_loss_correct_passes():
    chk.check_loss(mse)
    chk.check_loss(lambda p, t: tf.reduce_mean(tf.math.squared_difference(p, t)))


@pytest.mark.parametrize(
    ("impl", "match"),
    [(mse_sum, "sum instead of mean"), (mse_last_axis, "one axis only"), (mae, "absolute"),
     (rmse, "sqrt"), (mse_numpy, "not differentiable"),
     (lambda p, t: tf.reduce_mean(p - t), "not squared")],
)
def test_loss_mistakes_are_named(impl, match):
    _fails(chk.check_loss, impl, match=match)


# --------------------------------------------------------------------------- train
def test_train_correct_passes():
    chk.check_train_update(make_train(), loss=mse)
    chk.check_train_returns_loss_before_update(make_train(), loss=mse)


@pytest.mark.parametrize("name", sorted(TRAIN_MISTAKES))
def test_train_update_mistakes_are_named(name):
    update, match = TRAIN_MISTAKES[name]
    _fails(chk.check_train_update, make_train(update), match=match)


def test_train_sum_loss_is_named_and_noted():
    message = _fails(chk.check_train_update, make_train(loss=mse_sum), loss=mse_sum,
                     match="sum instead of mean")
    assert "train uses loss(), which fails its own check" in message
    _fails(chk.check_train_returns_loss_before_update, make_train(loss=mse_sum),
           match="sum instead of mean")


def test_train_touching_another_variable_fails():
    _fails(chk.check_train_update, make_train(touches_extra), match="only model.w and model.b")


def test_train_returning_loss_after_update_is_named():
    train = make_train(returns_after=True)
    chk.check_train_update(train)  # the update itself is right
    _fails(chk.check_train_returns_loss_before_update, train,
           match="loss returned after the update")


def test_train_returning_nothing_fails():
    def train(model, inputs, outputs, learning_rate):
        make_train()(model, inputs, outputs, learning_rate)

    _fails(chk.check_train_returns_loss_before_update, train, match="is None")


# --------------------------------------------------------------------------- fit
def test_fit_correct_passes():
    chk.check_fit(make_fit(make_train()), train=make_train())


def test_reference_fit_lowers_the_loss():
    xs, ys = chk.make_data(32)
    _, _, losses, _, _ = chk.reference_fit(xs, ys, *chk.FIT_START, epochs=20, lr=chk.FIT_LR)
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
        kwargs = {"use_model": chk.CheckModel(2.0, 1.0)}
    _fails(chk.check_fit, make_fit(make_train(), **kwargs), match=match)


def test_fit_with_broken_train_points_at_train():
    update, _ = TRAIN_MISTAKES["sign"]
    message = _fails(chk.check_fit, make_fit(make_train(update)), train=make_train(update),
                     match="fit calls train(), which fails its own check")
    assert "wrong sign" in message


def test_fit_with_loss_recorded_after_update_is_named():
    train = make_train(returns_after=True)
    _fails(chk.check_fit, make_fit(train), match="loss recorded after the step")


# --------------------------------------------------------------------------- variants
def test_variants_are_well_formed():
    found = variants.discover(ASSIGNMENT)
    kinds = [v.kind for v in found]
    assert kinds.count("correct") >= 4 and kinds.count("mutant") >= 8, kinds
    for v in found:
        if not v.is_correct:
            assert v.message, f"{v.name}: a mutant must name its message"
