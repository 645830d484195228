# %% [markdown]
# # Training basics: a tape, a loss and a loop, by hand
#
# Before `model.fit` there is a loop that you can write yourself in a dozen lines:
# compute a loss under `tf.GradientTape`, ask the tape for the gradients, move each
# parameter a small step against its gradient, repeat. In this notebook you write that
# loop for the smallest model there is, a line `y = w * x + b` with two parameters.
#
# You will
#
# 1. take derivatives with `tf.GradientTape` (warm-up, one small exercise);
# 2. write the loss (mean squared error);
# 3. write one training step that updates `w` and `b` with `assign_sub`;
# 4. write the training loop `fit`, which records `w`, `b` and the loss per epoch;
# 5. look at the result, and see what a Keras optimizer and `@tf.function` change.
#
# Each exercise has a test cell below it. The visible asserts are a first sanity check;
# the grader runs more tests on its own data.

# %% [markdown]
# ## Setup
#
# All imports, warning filters and seeds. `pick(full, fast)` chooses small sizes when the
# notebook runs in fast mode (`TFCOURSE_MODE=fast`, used by the grader); the graded tests
# do not depend on it.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

from tfcourse import pick
from tfcourse.training_basics import plot_data_and_predictions, plot_history, plot_loss_surface

tf.get_logger().setLevel("ERROR")
keras.utils.set_random_seed(42)  # seeds Python's random, numpy and TensorFlow

NUM_EXAMPLES = pick(1000, 200)
EPOCHS = pick(15, 5)
LEARNING_RATE = 0.1
print("TensorFlow", tf.__version__, "| Keras", keras.__version__,
      f"| {NUM_EXAMPLES} examples, {EPOCHS} epochs")

# %% [markdown]
# ## 1. Warm-up: derivatives with `tf.GradientTape`
#
# A tape records the operations run inside its `with` block on *watched* values; a
# `tf.Variable` is watched automatically. `tape.gradient(y, x)` then gives dy/dx.
# For $y = x^2$ at $x = 3$ the derivative is $2x = 6$:

# %%
x = tf.Variable(3.0)
with tf.GradientTape() as tape:
    y = x**2
print("d(x**2)/dx at 3.0:", tape.gradient(y, x).numpy())

# %% [markdown]
# The tape follows composite functions through the chain rule. For $z = \sin(x^2)$,
# $dz/dx = \cos(x^2) \cdot 2x$:

# %%
with tf.GradientTape() as tape:
    y = x**2
    z = tf.sin(y)
print("tape:    ", tape.gradient(z, x).numpy())
print("by hand: ", (tf.cos(x**2) * 2 * x).numpy())

# %% [markdown]
# A tape forgets what it recorded after one `gradient` call. With `persistent=True` it can
# be asked several times (delete it afterwards to free its memory):

# %%
with tf.GradientTape(persistent=True) as tape:
    y = x**2
    z = tf.sin(y)
print("dz/dy:", tape.gradient(z, y).numpy())
print("dz/dx:", tape.gradient(z, x).numpy())
del tape

# %% [markdown]
# A constant is not watched: without `tape.watch` its gradient is `None`.

# %%
c = tf.constant(3.0)
with tf.GradientTape() as tape:
    y = c**2
print("without watch:", tape.gradient(y, c))
with tf.GradientTape() as tape:
    tape.watch(c)
    y = c**2
print("with watch:   ", tape.gradient(y, c).numpy())

# %% [markdown]
# Nested tapes give higher derivatives: the outer tape records the inner tape's gradient
# computation. For $y = x^3$: $dy/dx = 3x^2 = 27$ and $d^2y/dx^2 = 6x = 18$ at $x = 3$.

# %%
with tf.GradientTape() as outer:
    with tf.GradientTape() as inner:
        y = x**3
    dy_dx = inner.gradient(y, x)
d2y_dx2 = outer.gradient(dy_dx, x)
print("first derivative: ", dy_dx.numpy())
print("second derivative:", d2y_dx2.numpy())

# %% [markdown]
# ### Exercise 1: `derivative(f, x)` (2 points)
#
# Write `derivative(f, x)` that returns $\frac{df}{dx}$ at `x`, computed with a
# `tf.GradientTape`. `f` is a function built from TensorFlow ops (e.g. `tf.sin`); `x` may
# be a Python float or a tensor, so turn it into a float32 tensor first and watch it.

# %% nbgrader={"grade": false, "grade_id": "derivative", "locked": false, "schema_version": 3, "solution": true, "task": false}
def derivative(f, x):
    """Return df/dx at x (a scalar tensor), using a GradientTape."""
    ### BEGIN SOLUTION
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    return tape.gradient(y, x)
    ### END SOLUTION


# %%
print(derivative(lambda x: x**2, 3.0))
print(derivative(tf.sin, tf.constant(0.0)))

# %% nbgrader={"grade": true, "grade_id": "derivative_matches_analytic", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""Check that derivative() matches the analytic derivatives of several functions."""
### BEGIN HIDDEN TESTS
from autograder.observe import training_basics as _obs

_obs.derivative_matches_analytic(derivative)
### END HIDDEN TESTS
_d = derivative(lambda x: x**2, 3.0)
assert _d is not None, "derivative returned None: call tape.watch(x) on the converted x"
assert np.isclose(float(_d), 6.0), (
    f"d(x**2)/dx at 3.0 is {float(_d)}; expected 6.0 (9.0 would be the function value)")

# %% [markdown]
# ## 2. The model and the data
#
# The model is a line with two trainable scalars, `w` (starts at 2.0) and `b` (starts at
# 1.0). It is a plain Python class holding two `tf.Variable`s: no Keras needed.

# %% nbgrader={"grade": false, "grade_id": "model_class", "locked": true, "schema_version": 3, "solution": false, "task": false}
class Model:
    """A linear model y = w * x + b with two trainable scalar Variables."""

    def __init__(self):
        self.w = tf.Variable(2.0)
        self.b = tf.Variable(1.0)

    def __call__(self, x):
        return self.w * x + self.b


model = Model()

# %% [markdown]
# The data are points of the line $y = 3x + 2$ plus Gaussian noise, drawn from a seeded
# generator so that every run sees the same points.

# %% nbgrader={"grade": false, "grade_id": "data", "locked": true, "schema_version": 3, "solution": false, "task": false}
TRUE_W = 3.0
TRUE_B = 2.0

generator = tf.random.Generator.from_seed(42)
xs = generator.normal(shape=[NUM_EXAMPLES])
noise = generator.normal(shape=[NUM_EXAMPLES])
ys = TRUE_W * xs + TRUE_B + noise

plot_data_and_predictions(xs, ys, model(xs), TRUE_W, TRUE_B, title="Before training")
plt.show()

# %% [markdown]
# ## 3. Exercise 2: the loss (2 points)
#
# Write `loss(predicted_y, target_y)`: the mean squared error, the mean over **all**
# elements of `(predicted_y - target_y) ** 2`, as a scalar tensor. Use TensorFlow ops
# (`tf.square`, `tf.reduce_mean`) so that the tape can differentiate it.

# %% nbgrader={"grade": false, "grade_id": "loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def loss(predicted_y, target_y):
    """Mean squared error between predictions and targets (a scalar tensor)."""
    ### BEGIN SOLUTION
    return tf.reduce_mean(tf.square(predicted_y - target_y))
    ### END SOLUTION


# %%
print("Loss of the untrained model:", float(loss(model(xs), ys)))

# %% nbgrader={"grade": true, "grade_id": "loss_is_mean_squared_error", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""Check that loss() is the mean squared error over all elements."""
### BEGIN HIDDEN TESTS
from autograder.observe import training_basics as _obs

_obs.loss_is_mean_squared_error(loss)
### END HIDDEN TESTS
_l = float(loss(tf.constant([1.0, 2.0]), tf.constant([1.0, 4.0])))
assert np.isclose(_l, 2.0), (
    f"loss is {_l}; expected 2.0 = mean([0**2, 2**2]) (4.0 would be the sum instead of mean)")

# %% [markdown]
# ## 4. Exercise 3: one training step (4 points)
#
# Write `train(model, inputs, outputs, learning_rate)`, one step of gradient descent:
#
# 1. under a `tf.GradientTape`, compute the predictions `model(inputs)` and their `loss`;
# 2. get the gradients of the loss with respect to `model.w` and `model.b`;
# 3. move each Variable against its gradient with `assign_sub(learning_rate * gradient)`;
# 4. return the loss computed in step 1, that is the loss **before** the update.
#
# Change nothing but `model.w` and `model.b`.

# %% nbgrader={"grade": false, "grade_id": "train", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train(model, inputs, outputs, learning_rate):
    """One gradient-descent step on model.w and model.b; returns the loss before the step."""
    ### BEGIN SOLUTION
    with tf.GradientTape() as tape:
        current_loss = loss(model(inputs), outputs)
    dw, db = tape.gradient(current_loss, [model.w, model.b])
    model.w.assign_sub(learning_rate * dw)
    model.b.assign_sub(learning_rate * db)
    return current_loss
    ### END SOLUTION


# %% [markdown]
# One step on a separate model, to see it move (the data's true values are `w=3`, `b=2`):

# %%
demo = Model()
step_loss = train(demo, xs, ys, LEARNING_RATE)
print(f"loss before the step: {float(step_loss):.4f}")
print(f"after one step: w = {demo.w.numpy():.4f}, b = {demo.b.numpy():.4f}")

# %% nbgrader={"grade": true, "grade_id": "train_updates_w_and_b", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""Check that train() moves w and b by -learning_rate * gradient and touches nothing else."""
### BEGIN HIDDEN TESTS
from autograder.observe import training_basics as _obs

_obs.train_updates_w_and_b(train)
### END HIDDEN TESTS
_m = Model()  # w=2, b=1: errors [2, 4], dL/dw = 10, dL/db = 6, so w -> 1.0, b -> 0.4
train(_m, tf.constant([1.0, 2.0]), tf.constant([1.0, 1.0]), 0.1)
assert (_m.w.numpy(), _m.b.numpy()) != (2.0, 1.0), (
    "w and b unchanged: was assign_sub called on model.w and model.b?")

# %% nbgrader={"grade": true, "grade_id": "train_returns_loss_before_update", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""Check that train() returns the loss computed before its update."""
### BEGIN HIDDEN TESTS
from autograder.observe import training_basics as _obs

_obs.train_returns_loss_before_update(train)
### END HIDDEN TESTS
_returned = train(Model(), tf.constant([1.0, 2.0]), tf.constant([1.0, 1.0]), 0.1)
assert np.isclose(float(_returned), 10.0), (
    f"train returned {float(_returned):.4g}; expected 10.0 = mean([2**2, 4**2]), the loss before "
    "the update (a smaller value is the loss after the update; 20.0 a sum instead of mean)")

# %% [markdown]
# ## 5. Exercise 4: the training loop (3 points)
#
# Write `fit(model, inputs, outputs, epochs, learning_rate)`. Each epoch is one call of
# `train` on all the data. Return three lists, `ws, bs, losses`, with one entry per epoch.
#
# **Recording rule**: entry `i` holds `w` and `b` *before* step `i` and the loss that step
# returned (the loss of those same `w` and `b`). So append `model.w.numpy()` and
# `model.b.numpy()` first, then call `train` and append the loss it returns. (Append the
# values, not the Variables: a Variable changes as training goes on.)

# %% nbgrader={"grade": false, "grade_id": "fit", "locked": false, "schema_version": 3, "solution": true, "task": false}
def fit(model, inputs, outputs, epochs, learning_rate):
    """Train for `epochs` steps; return lists ws, bs, losses (w, b and loss before each step)."""
    ### BEGIN SOLUTION
    ws, bs, losses = [], [], []
    for epoch in range(epochs):
        ws.append(model.w.numpy())
        bs.append(model.b.numpy())
        current_loss = train(model, inputs, outputs, learning_rate)
        losses.append(float(current_loss))
        print(f"epoch {epoch:2d}: w={ws[-1]:.2f} b={bs[-1]:.2f} loss={losses[-1]:.4f}")
    return ws, bs, losses
    ### END SOLUTION


# %% [markdown]
# Train the model of section 2:

# %% nbgrader={"grade": false, "grade_id": "run_fit", "locked": true, "schema_version": 3, "solution": false, "task": false}
ws, bs, losses = fit(model, xs, ys, EPOCHS, LEARNING_RATE)
print(f"after {EPOCHS} epochs: w = {model.w.numpy():.4f}, b = {model.b.numpy():.4f}")

# %% nbgrader={"grade": true, "grade_id": "fit_records_history", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""Check that fit() records w, b and the loss before each of its `epochs` steps."""
### BEGIN HIDDEN TESTS
from autograder.observe import training_basics as _obs

_obs.fit_records_history(fit)
### END HIDDEN TESTS
assert len(ws) == len(bs) == len(losses) == EPOCHS, (
    f"{len(ws)}, {len(bs)}, {len(losses)} entries; expected {EPOCHS} each, one per epoch "
    "(one more would be an extra entry recorded outside the loop)")
assert not any(isinstance(v, tf.Variable) for v in list(ws) + list(bs)), (
    "append model.w.numpy() and model.b.numpy(), not the Variable itself")
assert np.isclose(ws[0], 2.0) and np.isclose(bs[0], 1.0), (
    f"ws[0] = {ws[0]}, bs[0] = {bs[0]}; expected the starting values 2.0 and 1.0: were w and b "
    "recorded after the step? Record them before each step")
assert losses[-1] < losses[0], "the loss should go down during training"

# %% [markdown]
# ## 6. Looking at the result
#
# `w` and `b` per epoch against their true values (dashed), and the loss per epoch:

# %%
plot_history(ws, bs, losses, TRUE_W, TRUE_B)
plt.show()

# %% [markdown]
# The trained line on fresh test inputs it has never seen:

# %%
test_xs = generator.normal(shape=[pick(200, 50)])
test_ys = TRUE_W * test_xs + TRUE_B + generator.normal(shape=test_xs.shape)
plot_data_and_predictions(test_xs, test_ys, model(test_xs), TRUE_W, TRUE_B,
                          title=f"Test inputs after {EPOCHS} epochs")
plt.show()
print("test loss:", float(loss(model(test_xs), test_ys)))

# %% [markdown]
# The loss as a function of `w` (with `b` at its true value), of `b` (with `w` true), and of
# both (contours, with the path training took). The loss is a bowl: gradient descent rolls
# down it, faster where it is steep.

# %%
plot_loss_surface(lambda w, b: loss(w * xs + b, ys), TRUE_W, TRUE_B, ws, bs,
                  steps=pick(30, 12))
plt.show()

# %% [markdown]
# ## 7. The same step with a Keras optimizer and with `@tf.function`
#
# **A Keras optimizer** replaces the two `assign_sub` lines: `apply_gradients` takes
# (gradient, variable) pairs and applies its own update rule. With plain SGD the rule is
# exactly `v -= learning_rate * g`, so one step gives the same numbers as `train`; other
# optimizers (momentum, Adam) keep state between steps and step differently.

# %%
twin_a, twin_b = Model(), Model()
train(twin_a, xs, ys, LEARNING_RATE)

optimizer = keras.optimizers.SGD(learning_rate=LEARNING_RATE)
params = [twin_b.w, twin_b.b]
with tf.GradientTape() as tape:
    step_loss = loss(twin_b(xs), ys)
grads = tape.gradient(step_loss, params)
optimizer.apply_gradients(zip(grads, params))

print("train:     w =", twin_a.w.numpy(), " b =", twin_a.b.numpy())
print("optimizer: w =", twin_b.w.numpy(), " b =", twin_b.b.numpy())

# %% [markdown]
# **`@tf.function`** traces the Python function once into a TensorFlow graph and then runs
# the graph: the results are the same, repeated calls get faster, and Python side effects
# (`print`, `.numpy()`, `float()`) run only while tracing or fail, so the step must use
# TensorFlow ops only. A new Python value of an argument (another `learning_rate` float,
# another model object) triggers a new trace.

# %%
train_graph = tf.function(train)
twin_c = Model()
train_graph(twin_c, xs, ys, LEARNING_RATE)
print("tf.function: w =", twin_c.w.numpy(), " b =", twin_c.b.numpy())

# %% [markdown]
# ## 8. Notes for readers of older (Keras 2) code
#
# * `import keras` is Keras 3; in TensorFlow 2.16+ `tf.keras` also points to Keras 3, and the
#   old Keras 2 lives on only as the separate `tf_keras` package.
# * Optimizers take `learning_rate=`; the old `lr=` argument is gone.
# * Keras 3 optimizers have no `minimize(loss, var_list)` on the TensorFlow backend: use a
#   tape and `apply_gradients(zip(grads, variables))` (or `optimizer.apply(grads, variables)`).
# * `keras.losses.mean_squared_error` averages over the last axis only and returns one value
#   per example; `keras.losses.MeanSquaredError()` (or `tf.reduce_mean`) gives the scalar.
# * `keras.utils.set_random_seed` seeds Python, numpy and TensorFlow at once; for a stream of
#   random numbers of its own, use `tf.random.Generator.from_seed` as above.

# %% [markdown]
# ## Summary
#
# * `tf.GradientTape` records the operations on watched tensors (Variables are watched by
#   themselves; call `tape.watch` on a constant) and `tape.gradient(y, x)` differentiates them.
# * A training step is: predictions and loss inside the tape, gradients, then
#   `variable.assign_sub(learning_rate * gradient)`; it returns the loss *before* the update.
# * A training loop repeats the step once per epoch and records values (not Variables) before
#   each step.
#
# ## Going further (self-study, not graded)
#
# 1. Change `LEARNING_RATE` to 0.5 and to 1.5 and rerun `fit`: at which value does the loss
#    stop going down, and why does the loss surface above explain it?
# 2. Replace the hand-written update in `train` by `keras.optimizers.SGD(learning_rate)` and
#    `optimizer.apply_gradients(zip([dw, db], [model.w, model.b]))`: are `ws` and `bs` the same?
# 3. Fit $y = w x^2 + b$ to points of a parabola with the same `loss`, `train` and `fit`: which
#    lines change?

