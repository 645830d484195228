# %% [markdown]
# # Fashion-MNIST without `model.fit`
#
# In this notebook you train an image classifier with a training loop you write yourself:
# the gradient tape, the optimizer step, the metrics and the epoch loop are all in plain sight.
# At the end you put the same step back inside `model.fit` by overriding `train_step`, and you
# measure how much `tf.function` speeds the loop up.
#
# Plan:
#
# 1. load Fashion-MNIST and build an input pipeline;
# 2. define the model, the loss, the optimizer and the metrics;
# 3. write one training step (`apply_gradient`), one training epoch
#    (`train_data_for_one_epoch`), the validation pass (`perform_validation`) and the epoch
#    loop (`fit_custom`);
# 4. plot the losses and look at the predictions;
# 5. override `train_step` so that `model.fit` runs your step;
# 6. make it fast with `tf.function`.

# %% [markdown]
# ## Setup
#
# All imports are here. `pick(full, fast)` returns the first value normally and the second in
# the fast mode used for grading (`TFCOURSE_MODE=fast`), where the notebook trains on a few
# batches only.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import inspect
import time
import warnings

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from tfcourse import fashion_mnist, pick
from tfcourse.fashion_mnist import plot_loss_curves, plot_predictions

warnings.filterwarnings("ignore", module="tensorflow_datasets")
tf.get_logger().setLevel("ERROR")
keras.utils.set_random_seed(42)

BATCH_SIZE = 64
EPOCHS = pick(10, 2)
TRAIN_BATCHES = pick(-1, 8)  # -1 takes every batch
TEST_BATCHES = pick(-1, 4)
print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, epochs: {EPOCHS}")

# %% [markdown]
# ## The data
#
# Fashion-MNIST has 70,000 grey-scale images of 28x28 pixels in 10 classes of clothing:
# 60,000 for training and 10,000 for testing. The course's loader calls TensorFlow Datasets:
#
# ```python
# (train_data, test_data), info = tfds.load(
#     "fashion_mnist", split=["train", "test"], as_supervised=True, with_info=True)
# ```
#
# `as_supervised=True` makes every element an `(image, label)` pair: the image is a `uint8`
# tensor of shape `(28, 28, 1)`, the label an integer from 0 to 9. When the real dataset is
# not available (no local copy, and in full mode no internet either), the loader runs the same
# call under `tfds.testing.mock_data` and shows a yellow MOCK DATA box: the images are then
# random, and so are the accuracies below.

# %% nbgrader={"grade": false, "grade_id": "load_data", "locked": true, "schema_version": 3, "solution": false, "task": false}
train_data, test_data, info = fashion_mnist.load()
class_names = fashion_mnist.CLASS_NAMES
print("classes:", ", ".join(f"{i}={name}" for i, name in enumerate(class_names)))
image, label = next(iter(train_data))
print("one example:", image.shape, image.dtype, "label", int(label), class_names[int(label)])

# %% [markdown]
# ### The input pipeline
#
# The model takes flat vectors, so `format_image` flattens each image to 784 values and scales
# the pixels from `0..255` to `[0, 1]` as `float32`. The training set is shuffled and both sets
# are batched (64 images per batch) and prefetched, so that the next batch is prepared while
# the current one trains. In fast mode only a few batches are kept.

# %% nbgrader={"grade": false, "grade_id": "pipeline", "locked": true, "schema_version": 3, "solution": false, "task": false}
def format_image(image, label):
    """Flatten a (28, 28, 1) uint8 image to 784 float32 values in [0, 1]."""
    image = tf.reshape(image, [-1])
    image = tf.cast(image, tf.float32) / 255.0
    return image, label


train_ds = (
    train_data.map(format_image)
    .shuffle(buffer_size=1024, seed=0)
    .batch(BATCH_SIZE)
    .take(TRAIN_BATCHES)
    .prefetch(tf.data.AUTOTUNE)
)
test_ds = test_data.map(format_image).batch(BATCH_SIZE).take(TEST_BATCHES).prefetch(
    tf.data.AUTOTUNE
)
x_batch, y_batch = next(iter(train_ds))
print("a training batch:", x_batch.shape, x_batch.dtype, y_batch.shape, y_batch.dtype)
print(f"pixel range [{float(tf.reduce_min(x_batch)):.1f}, {float(tf.reduce_max(x_batch)):.1f}]")

# %% [markdown]
# ## The model, the loss, the optimizer and the metrics
#
# A small dense network: 784 inputs, two hidden layers of 64 ReLU units and a softmax over the
# 10 classes. `base_model` takes the model class as an argument so that we can build the same
# network as a `CustomModel` later.
#
# The last layer applies softmax, so the model's outputs are class probabilities: the code
# calls them `predictions`. `SparseCategoricalCrossentropy()` (with its default
# `from_logits=False`) expects exactly these probabilities and integer labels: for a batch of
# $N$ images with labels $y_i$ and predicted probabilities $p_{i,k}$ it is the mean negative
# log-probability of the right class, $L = -\frac{1}{N}\sum_{i} \log p_{i,\,y_i}$. (Many custom
# loops call the model's output `logits`; strictly, logits are the scores *before* softmax,
# which this model does not return.)

# %% nbgrader={"grade": false, "grade_id": "model", "locked": true, "schema_version": 3, "solution": false, "task": false}
def base_model(model_class=keras.Model):
    """Input(784) -> Dense(64, relu) -> Dense(64, relu) -> Dense(10, softmax)."""
    inputs = keras.Input(shape=(784,), name="image")
    x = keras.layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = keras.layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="probabilities")(x)
    return model_class(inputs=inputs, outputs=outputs)


model = base_model()
optimizer = keras.optimizers.Adam()
loss_object = keras.losses.SparseCategoricalCrossentropy()
train_acc_metric = keras.metrics.SparseCategoricalAccuracy()
val_acc_metric = keras.metrics.SparseCategoricalAccuracy()
model.summary()

# %% [markdown]
# ## Exercise 1: one training step (3 points)
#
# Write `apply_gradient(optimizer, loss_object, model, x, y)`. It gets the optimizer, the loss
# object and the model as explicit arguments (nothing global), so that the same function can
# train any model with any loss:
#
# 1. under a `tf.GradientTape`, run the forward pass `predictions = model(x, training=True)`
#    and compute `loss_value = loss_object(y_true=y, y_pred=predictions)` (labels first);
# 2. take the gradients of `loss_value` with respect to **all** of `model.trainable_weights`;
# 3. apply them with `optimizer.apply_gradients(zip(gradients, model.trainable_weights))`;
# 4. return `predictions, loss_value`, both computed **before** the optimizer step.
#
# `training=True` matters for layers that behave differently while training (dropout, batch
# normalization). This model has none, so `model(x)` gives the same numbers here and the
# grader accepts both; write `training=True` anyway, it keeps a model with dropout right.

# %% nbgrader={"grade": false, "grade_id": "apply_gradient", "locked": false, "schema_version": 3, "solution": true, "task": false}
def apply_gradient(optimizer, loss_object, model, x, y):
    """One optimizer step on the batch (x, y); returns (predictions, loss_value)."""
    ### BEGIN SOLUTION
    with tf.GradientTape() as tape:
        predictions = model(x, training=True)
        loss_value = loss_object(y_true=y, y_pred=predictions)
    gradients = tape.gradient(loss_value, model.trainable_weights)
    optimizer.apply_gradients(zip(gradients, model.trainable_weights))
    return predictions, loss_value
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "apply_gradient_updates_weights", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""Check that apply_gradient() takes one optimizer step and returns (predictions, loss_value)."""
### BEGIN HIDDEN TESTS
from autograder.observe import fashion_mnist as _obs

_obs.apply_gradient_updates_weights(apply_gradient)
### END HIDDEN TESTS
assert list(inspect.signature(apply_gradient).parameters)[:5] == [
    "optimizer", "loss_object", "model", "x", "y"
], "keep the signature apply_gradient(optimizer, loss_object, model, x, y)"
_model, _optimizer = base_model(), keras.optimizers.Adam()  # fresh ones: leave `model` alone
_twin = base_model()
_twin.set_weights(_model.get_weights())  # keeps the weights of before the step
_before = [w.numpy().copy() for w in _model.trainable_weights]
_predictions, _loss_value = apply_gradient(_optimizer, loss_object, _model, x_batch, y_batch)
assert tuple(_predictions.shape) == (len(y_batch), 10), (
    f"the first returned value has shape {tuple(_predictions.shape)}; expected "
    f"({len(y_batch)}, 10): return predictions first, then loss_value")
assert np.ndim(_loss_value) == 0, (
    f"loss_value has shape {np.shape(_loss_value)}; expected a single number")
_unchanged = [w.path for b, w in zip(_before, _model.trainable_weights) if np.array_equal(
    b, w.numpy())]
assert not _unchanged, (
    f"these weights did not change: {_unchanged}; no optimizer step or a subset of the "
    "weights: apply the gradients of all of model.trainable_weights")
_expected = float(loss_object(y_batch, _twin(x_batch)))
assert np.isclose(float(_loss_value), _expected, rtol=1e-4), (
    f"loss_value is {float(_loss_value):.5f}; expected {_expected:.5f}, the loss before the "
    "step: loss computed after the optimizer step? return the loss computed inside the tape")
assert np.allclose(_predictions, _twin(x_batch), rtol=1e-4, atol=1e-6), (
    "the predictions differ from the model's output before the step: predictions computed "
    "after the optimizer step? return those of the forward pass inside the tape")
print(f"one step: loss {float(_loss_value):.4f}")

# %% [markdown]
# ## Exercise 2: one epoch of training (3 points)
#
# Write `train_data_for_one_epoch(train_ds, optimizer, loss_object, model, train_acc_metric,
# verbose=True)`. For every batch `(x_batch, y_batch)` of `train_ds`:
#
# * call `apply_gradient` and keep the batch's loss in a list (`float(loss_value)`);
# * update the training accuracy with the predictions `apply_gradient` returned:
#   `train_acc_metric.update_state(y_batch, predictions)`.
#
# Wrap the batches in a progress bar, `tqdm(train_ds, disable=not verbose)`, and show the
# running loss on it with `progress.set_postfix(loss=...)`. Do **not** reset the metric here:
# the epoch loop reads it after the epoch. Return the list of losses.

# %% nbgrader={"grade": false, "grade_id": "train_data_for_one_epoch", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_data_for_one_epoch(
    train_ds, optimizer, loss_object, model, train_acc_metric, verbose=True
):
    """Train on every batch once; returns the list of per-batch losses."""
    ### BEGIN SOLUTION
    losses = []
    progress = tqdm(train_ds, desc="training", unit="batch", disable=not verbose)
    for x_batch, y_batch in progress:
        predictions, loss_value = apply_gradient(
            optimizer, loss_object, model, x_batch, y_batch
        )
        losses.append(float(loss_value))
        train_acc_metric.update_state(y_batch, predictions)
        progress.set_postfix(loss=f"{float(loss_value):.4f}")
    return losses
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "train_data_for_one_epoch_losses", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""Check that train_data_for_one_epoch() returns one loss per batch and updates the metric."""
### BEGIN HIDDEN TESTS
from autograder.observe import fashion_mnist as _obs

_obs.train_data_for_one_epoch_losses(train_data_for_one_epoch)
### END HIDDEN TESTS
assert "verbose" in inspect.signature(train_data_for_one_epoch).parameters, (
    "keep the parameter verbose=True")
_half = len(y_batch) // 2  # two fixed batches made of the first training batch
_ds = tf.data.Dataset.from_tensor_slices((x_batch[:2 * _half], y_batch[:2 * _half])).batch(_half)
_model, _optimizer = base_model(), keras.optimizers.Adam()
_twin = base_model()
_twin.set_weights(_model.get_weights())  # keeps the weights of before the first step
_metric = keras.metrics.SparseCategoricalAccuracy()
_losses = train_data_for_one_epoch(_ds, _optimizer, loss_object, _model, _metric, verbose=False)
assert len(_losses) == 2 and all(np.isfinite(_losses)), (
    f"{len(_losses)} losses for 2 batches; expected one loss per batch")
_expected = float(loss_object(y_batch[:_half], _twin(x_batch[:_half])))
assert np.isclose(float(_losses[0]), _expected, rtol=1e-4), (
    f"the first loss is {float(_losses[0]):.5f}; expected {_expected:.5f}, the loss before the "
    "first step: keep the loss apply_gradient returns (loss computed after the optimizer step?)")
# `count`: how many examples the metric has seen since its last reset
assert float(_metric.count.numpy()) == 2 * _half, (
    f"train_acc_metric covers {float(_metric.count.numpy()):.0f} examples after the epoch; "
    f"expected all {2 * _half}: update it once per batch and do not reset it inside the loop")
print(f"two batches: losses {np.round(_losses, 4)}, accuracy {float(_metric.result()):.3f}")

# %% [markdown]
# ## Exercise 3: validation (2 points)
#
# Write `perform_validation(test_ds, model, loss_object, val_acc_metric)` (the same order of
# arguments as in notebook 3): for every batch, a forward pass only
# (`predictions = model(x_val, training=False)`: no tape, no optimizer, the weights must not
# change), the batch's loss appended to a list, and
# `val_acc_metric.update_state(y_val, predictions)`. Return the list of losses.

# %% nbgrader={"grade": false, "grade_id": "perform_validation", "locked": false, "schema_version": 3, "solution": true, "task": false}
def perform_validation(test_ds, model, loss_object, val_acc_metric):
    """Evaluate on every batch of test_ds; returns the list of per-batch losses."""
    ### BEGIN SOLUTION
    losses = []
    for x_val, y_val in test_ds:
        val_predictions = model(x_val, training=False)
        val_loss = loss_object(y_true=y_val, y_pred=val_predictions)
        losses.append(float(val_loss))
        val_acc_metric.update_state(y_val, val_predictions)
    return losses
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "perform_validation_does_not_train", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""Check that perform_validation() leaves the weights alone and returns per-batch losses."""
### BEGIN HIDDEN TESTS
from autograder.observe import fashion_mnist as _obs

_obs.perform_validation_does_not_train(perform_validation)
### END HIDDEN TESTS
assert list(inspect.signature(perform_validation).parameters)[:4] == [
    "test_ds", "model", "loss_object", "val_acc_metric"
], "the parameters are (test_ds, model, loss_object, val_acc_metric), in this order"
_half = len(y_batch) // 2
_ds = tf.data.Dataset.from_tensor_slices((x_batch[:2 * _half], y_batch[:2 * _half])).batch(_half)
_model, _metric = base_model(), keras.metrics.SparseCategoricalAccuracy()
_before = [w.numpy().copy() for w in _model.weights]
_losses = perform_validation(_ds, _model, loss_object, _metric)
assert all(np.array_equal(b, w.numpy()) for b, w in zip(_before, _model.weights)), (
    "perform_validation changed the weights: validation trains the model; do a forward pass "
    "only, with no tape and no optimizer")
assert len(_losses) == 2 and all(np.isfinite(_losses)), (
    f"{len(_losses)} losses for 2 batches; expected one loss per batch")
_expected = float(loss_object(y_batch[:_half], _model(x_batch[:_half])))
assert np.isclose(float(_losses[0]), _expected, rtol=1e-4), (
    f"the first loss is {float(_losses[0]):.5f}; expected {_expected:.5f}, "
    "loss_object(y_val, model(x_val, training=False))")
assert float(_metric.count.numpy()) == 2 * _half, (
    f"val_acc_metric covers {float(_metric.count.numpy()):.0f} examples; expected all "
    f"{2 * _half}: update it once per batch and do not reset it inside the loop")
print(f"validation losses {np.round(_losses, 4)}, accuracy {float(_metric.result()):.3f}")

# %% [markdown]
# ## Exercise 4: the epoch loop (3 points)
#
# Write `fit_custom(model, optimizer, loss_object, train_ds, test_ds, train_acc_metric,
# val_acc_metric, epochs)`. For each epoch:
#
# 1. train with `train_data_for_one_epoch`, then validate with
#    `perform_validation(test_ds, model, loss_object, val_acc_metric)`;
# 2. read the results: the mean of the epoch's training and validation losses, and
#    `train_acc_metric.result()`, `val_acc_metric.result()`;
# 3. print them and append them to a history dict with the keys `"loss"`, `"accuracy"`,
#    `"val_loss"` and `"val_accuracy"` (one value per epoch, like
#    `keras.callbacks.History.history`);
# 4. **then** reset both metrics with `reset_state()`, so that the next epoch's accuracy
#    covers that epoch only. (Keras 2 called this method `reset_states()`; Keras 3 only has
#    `reset_state()`.)
#
# Return the history dict.

# %% nbgrader={"grade": false, "grade_id": "fit_custom", "locked": false, "schema_version": 3, "solution": true, "task": false}
def fit_custom(
    model, optimizer, loss_object, train_ds, test_ds, train_acc_metric, val_acc_metric, epochs
):
    """Train for `epochs` epochs; returns {"loss", "accuracy", "val_loss", "val_accuracy"}."""
    ### BEGIN SOLUTION
    history = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
    for epoch in range(epochs):
        train_losses = train_data_for_one_epoch(
            train_ds, optimizer, loss_object, model, train_acc_metric
        )
        val_losses = perform_validation(test_ds, model, loss_object, val_acc_metric)
        history["loss"].append(float(np.mean(train_losses)))
        history["val_loss"].append(float(np.mean(val_losses)))
        history["accuracy"].append(float(train_acc_metric.result()))
        history["val_accuracy"].append(float(val_acc_metric.result()))
        print(
            f"epoch {epoch + 1}/{epochs}: loss {history['loss'][-1]:.4f}, "
            f"accuracy {history['accuracy'][-1]:.4f}, val_loss {history['val_loss'][-1]:.4f}, "
            f"val_accuracy {history['val_accuracy'][-1]:.4f}"
        )
        train_acc_metric.reset_state()
        val_acc_metric.reset_state()
    return history
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "fit_custom_resets_metrics", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""Check that fit_custom() reports each epoch's own metrics and resets them after reading."""
### BEGIN HIDDEN TESTS
from autograder.observe import fashion_mnist as _obs

_obs.fit_custom_resets_metrics(fit_custom)
### END HIDDEN TESTS
assert "epochs" in inspect.signature(fit_custom).parameters, "keep the parameter epochs"


class _ReadLog(keras.metrics.SparseCategoricalAccuracy):
    """An accuracy metric that logs how many examples it covered each time result() is read."""

    def __init__(self, name):
        super().__init__(name=name)
        self.covered = []

    def result(self):
        self.covered.append(int(self.count.numpy()))
        return super().result()


_half = len(y_batch) // 2
_ds = tf.data.Dataset.from_tensor_slices((x_batch[:2 * _half], y_batch[:2 * _half])).batch(_half)
_train_m, _val_m = _ReadLog("train_acc"), _ReadLog("val_acc")
_history = fit_custom(base_model(), keras.optimizers.Adam(), loss_object, _ds, _ds.take(1),
                      _train_m, _val_m, epochs=2)
assert isinstance(_history, dict) and sorted(_history) == [
    "accuracy", "loss", "val_accuracy", "val_loss"
], "return a dict with the keys loss, accuracy, val_loss, val_accuracy"
assert all(len(_values) == 2 for _values in _history.values()), (
    "each history list needs one value per epoch (2 epochs here)")
for _name, _m, _n in (("train_acc_metric", _train_m, 2 * _half),
                      ("val_acc_metric", _val_m, _half)):
    assert _m.covered, f"{_name}.result() was never read: store it in the history every epoch"
    assert max(_m.covered) <= _n, (
        f"{_name} covered {max(_m.covered)} examples when it was read; expected one epoch's "
        f"{_n}: metric not reset per epoch; call {_name}.reset_state() after reading it")
    assert _n in _m.covered, (
        f"{_name} was read covering {sorted(set(_m.covered))} examples, never a whole epoch "
        f"({_n}): metric reset before its result was read (or reset inside the epoch's "
        "batch loop); read result() after the epoch, then reset_state()")

# %% [markdown]
# Now train the notebook's model with your loop.

# %% nbgrader={"grade": false, "grade_id": "train_custom_loop", "locked": true, "schema_version": 3, "solution": false, "task": false}
start = time.perf_counter()
history = fit_custom(model, optimizer, loss_object, train_ds, test_ds, train_acc_metric,
                     val_acc_metric, epochs=EPOCHS)
print(f"{EPOCHS} epochs in {time.perf_counter() - start:.1f} s")

# %% [markdown]
# ## How did it go?
#
# The training and validation losses per epoch, then a grid of test images with the model's
# prediction and, in brackets, the true class; wrong predictions are in red.

# %% nbgrader={"grade": false, "grade_id": "plot_losses", "locked": true, "schema_version": 3, "solution": false, "task": false}
plot_loss_curves(history, title="Custom training loop: loss per epoch")
plt.show()

x_test, y_test = next(iter(test_ds))
probabilities = model(x_test, training=False)
plot_predictions(x_test, y_test, probabilities, class_names, columns=8, max_images=24)
plt.show()

# %% [markdown]
# ## Exercise 5: your step inside `model.fit` (3 points)
#
# A custom loop gives full control but loses what `fit` offers (callbacks, progress display,
# `validation_data`, distribution). Overriding `train_step` keeps both: `fit` calls your step
# once per batch. Complete `CustomModel.train_step(self, data)`:
#
# 1. unpack `x, y = data`;
# 2. under a tape, `y_pred = self(x, training=True)` and
#    `loss = self.compute_loss(x=x, y=y, y_pred=y_pred)` (the loss given to `compile`);
# 3. take the gradients of `loss` with respect to `self.trainable_variables` and apply them
#    with `self.optimizer.apply_gradients(...)`;
# 4. update the metrics: for `m` in `self.metrics`, `m.update_state(loss)` if `m.name == "loss"`
#    (the loss tracker), else `m.update_state(y, y_pred)`;
# 5. return `{m.name: m.result() for m in self.metrics}`.
#
# Keras 2 code used `self.compiled_loss(y, y_pred)` and `self.compiled_metrics.update_state(y,
# y_pred)`; Keras 3 replaced them with `self.compute_loss(...)` and the `self.metrics` loop
# above (the compiled metrics sit in one entry of `self.metrics` whose result is a dict, which
# `fit` flattens into the logs).

# %% nbgrader={"grade": false, "grade_id": "custom_model", "locked": false, "schema_version": 3, "solution": true, "task": false}
class CustomModel(keras.Model):
    """A keras.Model whose fit() runs a hand-written training step."""

    def train_step(self, data):
        ### BEGIN SOLUTION
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred)
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}
        ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "train_step_matches_reference", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""Check that CustomModel.train_step() takes the reference step and logs every metric."""
### BEGIN HIDDEN TESTS
from autograder.observe import fashion_mnist as _obs

_obs.train_step_matches_reference(CustomModel)
### END HIDDEN TESTS
assert issubclass(CustomModel, keras.Model) and "train_step" in vars(CustomModel), (
    "CustomModel must subclass keras.Model and define train_step")
_model = base_model(CustomModel)
_model.compile(optimizer=keras.optimizers.Adam(), loss=loss_object,
               metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
_before = [w.numpy().copy() for w in _model.trainable_weights]
_logs = _model.fit(x_batch, y_batch, epochs=1, batch_size=len(y_batch), verbose=0).history
assert any(not np.array_equal(b, w.numpy()) for b, w in zip(_before, _model.trainable_weights)), (
    "the weights did not change: train_step skips the optimizer; call "
    "self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))")
assert {"loss", "accuracy"} <= set(_logs), (
    f"the logs have keys {sorted(_logs)}; expected loss and accuracy: return "
    "{m.name: m.result() for m in self.metrics}")
assert _logs["loss"][0] > 0, (
    f"logs['loss'] is {_logs['loss'][0]}: stale metrics? update every metric before returning "
    "their result()")
assert 0.0 <= _logs["accuracy"][0] <= 1.0, f"logs['accuracy'] is {_logs['accuracy'][0]}"

# %% [markdown]
# Train a fresh `CustomModel` with `fit`: your `train_step` runs for every batch, and `fit`
# adds the validation pass and the per-epoch log lines.

# %% nbgrader={"grade": false, "grade_id": "train_custom_model", "locked": true, "schema_version": 3, "solution": false, "task": false}
custom_model = base_model(CustomModel)
custom_model.compile(
    optimizer=keras.optimizers.Adam(),
    loss=keras.losses.SparseCategoricalCrossentropy(),
    metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
)
custom_history = custom_model.fit(  # shuffle=False: train_ds shuffles itself
    train_ds, validation_data=test_ds, epochs=EPOCHS, shuffle=False, verbose=2
)
plot_loss_curves(custom_history.history, title="CustomModel.fit: loss per epoch")
plt.show()

# %% [markdown]
# ## Make it fast
#
# Every call of `apply_gradient` above runs eagerly: Python dispatches each operation one by
# one. `tf.function` traces the step once into a graph and then runs the graph, which is what
# `model.fit` does with its own step. Below, the same step is timed four ways on the same
# model (same starting weights) and the same cached batches:
#
# * the eager loop you wrote;
# * the same step in `tf.function`, still called from a Python loop. The wrapper closes over
#   the optimizer, the loss and the model, so that only the tensors `x` and `y` cross the
#   `tf.function` boundary (passing Python objects as arguments also works, but costs time on
#   every call);
# * the whole epoch in one `tf.function`: the `for` loop over the dataset becomes a loop in the
#   graph, so Python is not involved between batches at all. Each call has a fixed start-up
#   cost (a fraction of a second here), which pays off only over many batches;
# * `model.fit`.
#
# Each one first takes one untimed step, so that tracing is not counted. In fast mode the
# timed epoch is a few batches only, so the ratios say little; `benchmarks/bench_fashion_loop.py`
# measures full epochs of 60,000 examples.

# %% nbgrader={"grade": false, "grade_id": "make_it_fast", "locked": true, "schema_version": 3, "solution": false, "task": false}
def eager_step(optimizer, model):
    """The step as written, run eagerly."""
    return lambda x, y: apply_gradient(optimizer, loss_object, model, x, y)


def graph_step(optimizer, model):
    """The same step traced once by tf.function."""

    @tf.function
    def step(x, y):
        return apply_gradient(optimizer, loss_object, model, x, y)

    return step


def graph_epoch(optimizer, model):
    """A whole epoch of the step inside one tf.function."""
    step = graph_step(optimizer, model)

    @tf.function
    def epoch(ds):
        for x, y in ds:
            step(x, y)

    return epoch


timing_ds = train_ds.cache()
for _ in timing_ds:  # fill the cache so that every method reads the same batches from memory
    pass
timing_model = base_model()
start_weights = timing_model.get_weights()


def time_custom_epoch(make_step, whole_epoch=False):
    """Seconds for one epoch of a hand-written loop, after an untimed warm-up step."""
    timing_model.set_weights(start_weights)
    timing_optimizer = keras.optimizers.Adam()
    timing_optimizer.build(timing_model.trainable_variables)
    run = make_step(timing_optimizer, timing_model)
    if whole_epoch:
        run(timing_ds.take(1))  # warm-up: trace the epoch function
    else:
        run(*next(iter(timing_ds)))  # warm-up: trace the step
    start = time.perf_counter()
    if whole_epoch:
        run(timing_ds)
    else:
        for x, y in timing_ds:
            run(x, y)
    return time.perf_counter() - start


def time_fit_epoch():
    """Seconds for one epoch of model.fit on the same model and batches, after a warm-up."""
    timing_model.set_weights(start_weights)
    timing_model.compile(optimizer=keras.optimizers.Adam(), loss=loss_object)
    timing_model.fit(timing_ds.take(1), epochs=1, shuffle=False, verbose=0)
    start = time.perf_counter()
    timing_model.fit(timing_ds, epochs=1, shuffle=False, verbose=0)
    return time.perf_counter() - start


seconds = {
    "eager loop": time_custom_epoch(eager_step),
    "tf.function step": time_custom_epoch(graph_step),
    "tf.function epoch": time_custom_epoch(graph_epoch, whole_epoch=True),
    "model.fit": time_fit_epoch(),
}
for name, value in seconds.items():
    print(f"{name:>17}: {value:7.3f} s per epoch, {value / seconds['model.fit']:5.2f} x fit")
print(f"eager / tf.function step: {seconds['eager loop'] / seconds['tf.function step']:.1f}x")
n_batches = sum(1 for _ in timing_ds)
print(f"timed on {n_batches} batches of {BATCH_SIZE}"
      + ("; too few for the ratios to mean much" if n_batches < 100 else ""))
print("fastest here:", min(seconds, key=seconds.get))

# %% [markdown]
# ## Summary
#
# * `apply_gradient`: forward pass with `training=True` under a `tf.GradientTape`, loss
#   (labels first), gradients of all trainable weights, `optimizer.apply_gradients`.
# * An epoch is a loop over batches that collects the losses and updates the metric; validation
#   is the same loop without tape or optimizer.
# * Read a metric's `result()` at the end of each epoch, then `reset_state()` it.
# * `train_step` puts the same step inside `fit`. On full epochs
#   (`benchmarks/bench_fashion_loop.py`, README) the eager loop is about 20x slower than `fit`,
#   the step in `tf.function` about as fast, and the whole epoch in one `tf.function` about
#   twice as fast; on the few batches of fast mode or mock data, start-up costs dominate and the
#   table above can say otherwise.
#
# ## Going further (self-study, not graded)
#
# 1. Add a `keras.layers.Dropout(0.2)` after each hidden layer: which of your functions need
#    `training=True` now, and does validation accuracy change?
# 2. Track a second metric (`keras.metrics.SparseTopKCategoricalAccuracy(k=2)`) in
#    `train_data_for_one_epoch` and `perform_validation`, and reset it where the others are.
# 3. Replace `Adam` by `SGD(learning_rate=0.1, momentum=0.9)` and compare the loss curves.

