# %% [markdown]
# # Breast cancer prediction: a custom metric and a custom training loop
#
# This is the graded assignment of the week. If you took the Coursera course *TensorFlow:
# Advanced Techniques* you know it as C2W2, "Breast Cancer Prediction": the same data, the
# same model and the same exercises, with the same names and signatures, so your solutions
# carry over. You will
#
# 1. write a custom Keras metric, `F1Score`;
# 2. write one training step, `apply_gradient`;
# 3. run one epoch of training, `train_data_for_one_epoch`, updating two metrics;
# 4. run validation, `perform_validation`;
# 5. write the epoch loop, `train_model`, that prints the losses and metrics of every epoch
#    and resets the metrics.
#
# ### What changed from the original notebook
#
# The course now runs TensorFlow 2.21 with Keras 3, and a few latent bugs of the original are
# fixed. Each is explained where it happens:
#
# * **Labels have the shape of the predictions, `(n, 1)`.** The original kept labels of shape
#   `(n,)`. In Keras 2 a loss object only aligned the two shapes when both were tensors, so the
#   "loss before training" (NumPy labels) broadcast `(n,)` against `(n, 1)` to an `(n, n)`
#   matrix and averaged all `n * n` label/prediction pairs instead of the `n` real ones.
# * **`add_variable` instead of `tf.Variable`** for the metric's counters (Keras 3 tracks only
#   the former), `reset_state` instead of `reset_states`, and no Python `if` on tensors in
#   `F1Score.result()`.
# * **One optimizer per model.** A Keras 3 optimizer is built for the variables it first
#   updates and refuses another model's; the tests below use their own optimizers.
# * **`Input(shape=(9,))`**: a shape is a tuple; `(9)` is just the integer 9.
# * **`perform_validation` takes its objects as arguments**, like the other functions,
#   instead of reading the notebook's `test_dataset`, `model`, ... from its globals.
# * Two column names were misspelled (`marginal_adheshion`, `single_eph_cell_size`); the
#   columns now use the names of the UCI attribute list.
# * The split and the shuffling are seeded, so a rerun gives the same numbers.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow is imported

import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.model_selection import train_test_split

from tfcourse import breast_cancer, pick

SEED = 42
tf.keras.utils.set_random_seed(SEED)  # Python, NumPy and TensorFlow seeds
tf.get_logger().setLevel("ERROR")

# %% [markdown]
# ## The data
#
# The Breast Cancer Wisconsin (Original) data set (Wolberg, 1992, UCI) describes 699 breast
# masses by nine cell features scored from 1 to 10; `class` is 2 for benign and 4 for
# malignant. `breast_cancer.load_raw()` reads the file with pandas, naming the columns after the
# UCI attribute list, and changes nothing else.

# %% nbgrader={"grade": false, "grade_id": "load_data", "locked": true, "schema_version": 3, "solution": false, "task": false}
df = breast_cancer.load_raw()
df.head()

# %% [markdown]
# `id` identifies the patient sample and carries no information about the class: drop it.
# Sixteen rows have `?` (unknown) in `bare_nuclei`, which is why pandas read that column as
# text. Drop those rows and make the column numeric.

# %% nbgrader={"grade": false, "grade_id": "clean_data", "locked": true, "schema_version": 3, "solution": false, "task": false}
df.pop("id")
df = df[df["bare_nuclei"] != "?"].copy()
df["bare_nuclei"] = pd.to_numeric(df["bare_nuclei"])
print(f"{len(df)} rows, {df.shape[1]} columns")
df.describe().transpose()

# %% [markdown]
# How many examples of each class are there? Then map the classes to the labels a sigmoid
# output predicts: benign 2 -> 0, malignant 4 -> 1.

# %% nbgrader={"grade": false, "grade_id": "class_histogram", "locked": true, "schema_version": 3, "solution": false, "task": false}
breast_cancer.plot_class_histogram(df["class"], title="Classes (2 = benign, 4 = malignant)")
df["class"] = df["class"].map({2: 0, 4: 1})

# %% [markdown]
# ### Train/test split and normalisation
#
# 80 % of the rows train the model and 20 % test it (`random_state` makes the split
# reproducible; `stratify` keeps the class balance equal in both parts). Each feature is
# normalised with the mean and standard deviation of the **training** set only: the test
# set stands for data the model has never seen.

# %% nbgrader={"grade": false, "grade_id": "split_and_normalise", "locked": true, "schema_version": 3, "solution": false, "task": false}
train, test = train_test_split(df, test_size=0.2, random_state=SEED, stratify=df["class"])

train_Y = train.pop("class")
test_Y = test.pop("class")
train_stats = train.describe().transpose()


def norm(x):
    """Normalise features with the training set's mean and standard deviation."""
    return (x - train_stats["mean"]) / train_stats["std"]


norm_train_X = norm(train).to_numpy(dtype="float32")
norm_test_X = norm(test).to_numpy(dtype="float32")

# Labels of shape (n, 1), like the model's predictions (see "What changed" above).
train_labels = train_Y.to_numpy(dtype="float32").reshape(-1, 1)
test_labels = test_Y.to_numpy(dtype="float32").reshape(-1, 1)
print("train:", norm_train_X.shape, train_labels.shape, " test:", norm_test_X.shape,
      test_labels.shape)

# %% [markdown]
# ### Datasets
#
# `tf.data` batches the examples (32 per batch) and shuffles the training set anew every
# epoch (seeded).

# %% nbgrader={"grade": false, "grade_id": "datasets", "locked": true, "schema_version": 3, "solution": false, "task": false}
BATCH_SIZE = 32

train_dataset = tf.data.Dataset.from_tensor_slices((norm_train_X, train_labels))
train_dataset = train_dataset.shuffle(buffer_size=len(norm_train_X), seed=SEED)
train_dataset = train_dataset.batch(BATCH_SIZE)

test_dataset = tf.data.Dataset.from_tensor_slices((norm_test_X, test_labels))
test_dataset = test_dataset.batch(BATCH_SIZE)

x_batch, y_batch = next(iter(train_dataset))
print("one training batch:", x_batch.shape, y_batch.shape)

# %% [markdown]
# ## The model
#
# Nine features in, two hidden ReLU layers, one sigmoid unit out: the probability that the
# mass is malignant.

# %% nbgrader={"grade": false, "grade_id": "model", "locked": true, "schema_version": 3, "solution": false, "task": false}
def base_model():
    """Input(9) -> Dense(128, relu) -> Dense(64, relu) -> Dense(1, sigmoid)."""
    inputs = tf.keras.layers.Input(shape=(9,))
    x = tf.keras.layers.Dense(128, activation="relu")(inputs)
    x = tf.keras.layers.Dense(64, activation="relu")(x)
    outputs = tf.keras.layers.Dense(1, activation="sigmoid")(x)
    return tf.keras.Model(inputs=inputs, outputs=outputs)


model = base_model()
optimizer = tf.keras.optimizers.RMSprop(learning_rate=0.001)  # this model's own optimizer
loss_object = tf.keras.losses.BinaryCrossentropy()
model.summary()

# %% [markdown]
# Before training, the loss on the test set should be near `ln 2 = 0.693` (the model guesses
# about 0.5 for everything), and the confusion matrix shows guesses rather than knowledge.

# %% nbgrader={"grade": false, "grade_id": "untrained_loss", "locked": true, "schema_version": 3, "solution": false, "task": false}
outputs = model(norm_test_X)
loss_value = loss_object(y_true=test_labels, y_pred=outputs)
print(f"Loss before training: {float(loss_value):.4f}")
breast_cancer.plot_confusion_matrix(test_labels, tf.round(outputs),
                             title="Confusion matrix of the untrained model")

# %% [markdown]
# ## Exercise 1: the F1 score as a Keras metric (3 points)
#
# Accuracy hides how a classifier treats the rarer class. The F1 score is the harmonic mean
# of precision and recall,
#
# $$\text{precision} = \frac{tp}{tp + fp},\qquad \text{recall} = \frac{tp}{tp + fn},\qquad
# F_1 = 2\,\frac{\text{precision}\cdot\text{recall}}{\text{precision} + \text{recall}}.$$
#
# A Keras metric keeps its state in variables that `update_state` accumulates batch after
# batch, `result` turns into the value, and `reset_state` sets back to zero.
#
# Complete `F1Score`:
#
# * in `__init__`, create the four counters `tp`, `fp`, `tn`, `fn` with
#   `self.add_variable(shape=(), initializer='zeros', name=...)`. Keras 3 tracks variables
#   made this way (they appear in `metric.variables`); Keras 2 called the method
#   `add_weight`, and the original notebook's plain `tf.Variable`s are not tracked at all;
# * in `result`, compute `f1_score` from `precision` and `recall`. When both are 0 the
#   formula is 0/0: use `tf.math.divide_no_nan`, which gives 0 there (scikit-learn's
#   `zero_division=0`), rather than a Python `if` on tensors, which fails inside
#   `tf.function`;
# * in `reset_state`, set every counter back to 0.
#
# `update_state` is given: `tf.math.confusion_matrix` counts the four cases. It needs rank-1
# labels and predictions, so it flattens the `(n, 1)` batches first.

# %% nbgrader={"grade": false, "grade_id": "f1_score", "locked": false, "schema_version": 3, "solution": true, "task": false}
class F1Score(tf.keras.metrics.Metric):
    """F1 score of 0/1 predictions, accumulated over batches."""

    def __init__(self, name='f1_score', **kwargs):
        super().__init__(name=name, **kwargs)
        # Counters of true positives, false positives, true negatives and false negatives.
        ### BEGIN SOLUTION
        self.tp = self.add_variable(shape=(), initializer='zeros', name='tp')
        self.fp = self.add_variable(shape=(), initializer='zeros', name='fp')
        self.tn = self.add_variable(shape=(), initializer='zeros', name='tn')
        self.fn = self.add_variable(shape=(), initializer='zeros', name='fn')
        ### END SOLUTION

    def update_state(self, y_true, y_pred, sample_weight=None):
        conf_matrix = tf.math.confusion_matrix(
            tf.reshape(y_true, [-1]), tf.reshape(y_pred, [-1]), num_classes=2,
            dtype=self.dtype)
        self.tn.assign_add(conf_matrix[0][0])
        self.tp.assign_add(conf_matrix[1][1])
        self.fp.assign_add(conf_matrix[0][1])
        self.fn.assign_add(conf_matrix[1][0])

    def result(self):
        # divide_no_nan(a, b) is a / b, or 0 where b is 0.
        precision = tf.math.divide_no_nan(self.tp, self.tp + self.fp)
        recall = tf.math.divide_no_nan(self.tp, self.tp + self.fn)
        # Return the F1 score
        ### BEGIN SOLUTION
        f1_score = tf.math.divide_no_nan(2 * precision * recall, precision + recall)
        ### END SOLUTION
        return f1_score

    def reset_state(self):
        ### BEGIN SOLUTION
        self.tp.assign(0)
        self.fp.assign(0)
        self.tn.assign(0)
        self.fn.assign(0)
        ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "f1_score_matches_sklearn", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""Check that F1Score gives the F1 score of everything counted since the last reset."""
### BEGIN HIDDEN TESTS
from autograder.observe import breast_cancer as _obs

_obs.f1_score_matches_sklearn(F1Score)
### END HIDDEN TESTS
# The original notebook's example: tp=2, fp=5, tn=7, fn=9 gives F1 = 2/9 = 0.2222.
_f1 = F1Score()
assert len(_f1.variables) > 0, (
    "F1Score().variables is empty: create the counters with self.add_variable, not tf.Variable")
_y_true = tf.constant([1.0] * 2 + [0.0] * 5 + [0.0] * 7 + [1.0] * 9, shape=(23, 1))
_y_pred = tf.constant([1.0] * 2 + [1.0] * 5 + [0.0] * 7 + [0.0] * 9, shape=(23, 1))
_f1.update_state(_y_true, _y_pred)
print(f"F1: {float(_f1.result()):.4f} (expected 0.2222)")
assert np.isclose(float(_f1.result()), 2 / 9, atol=1e-6), (
    f"F1 is {float(_f1.result()):.4f}, expected 2/9 = 0.2222: is f1_score "
    "2 * precision * recall / (precision + recall)? (0.1111 means the factor 2 is missing)")
_f1 = F1Score()
_f1.update_state(tf.zeros((4, 1)), tf.zeros((4, 1)))
assert float(_f1.result()) == 0.0, (
    f"F1 with no positive label or prediction is {float(_f1.result())}, expected 0: "
    "precision + recall is 0 there, use tf.math.divide_no_nan")

# %% nbgrader={"grade": true, "grade_id": "f1_score_reset_state", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""Check that F1Score's counters are tracked by Keras and reset_state() zeroes them."""
### BEGIN HIDDEN TESTS
from autograder.observe import breast_cancer as _obs

_obs.f1_score_reset_state(F1Score)
### END HIDDEN TESTS
_f1 = F1Score()
assert len(_f1.variables) > 0, (
    "F1Score().variables is empty: create the counters with self.add_variable, not tf.Variable")
_f1.update_state(tf.constant([[1.0], [1.0], [0.0]]), tf.constant([[1.0], [0.0], [1.0]]))
_f1.reset_state()
_left = [f"{v.name}={float(v.numpy()):g}" for v in _f1.variables if float(v.numpy()) != 0]
assert not _left, f"after reset_state() these counters are not zero: {', '.join(_left)}"
assert float(_f1.result()) == 0.0, (
    f"result() right after reset_state() is {float(_f1.result())}, expected 0")

# %% [markdown]
# Two metrics follow training and two follow validation: each object accumulates its own
# counts, so training and validation never mix.

# %% nbgrader={"grade": false, "grade_id": "metrics", "locked": true, "schema_version": 3, "solution": false, "task": false}
train_acc_metric = tf.keras.metrics.BinaryAccuracy()
val_acc_metric = tf.keras.metrics.BinaryAccuracy()
train_f1score_metric = F1Score()
val_f1score_metric = F1Score()

# %% [markdown]
# ## Exercise 2: one training step (2 points)
#
# Complete `apply_gradient`:
#
# 1. under a `tf.GradientTape`, run the forward pass `logits = model(x, training=True)` and
#    compute `loss_value = loss_object(y_true=y, y_pred=logits)` (labels first);
# 2. take the gradients of `loss_value` with respect to **all** of `model.trainable_weights`;
# 3. apply them with `optimizer.apply_gradients(zip(gradients, model.trainable_weights))`;
# 4. return `logits, loss_value`: the output and the loss of the weights *before* the step.
#
# `training=True` matters for layers that behave differently while training (dropout, batch
# normalization); this model has none, so `model(x)` gives the same numbers here, but the
# habit carries over. (The model ends in a sigmoid, so its "logits" are in fact
# probabilities; the name is the original notebook's.)

# %% nbgrader={"grade": false, "grade_id": "apply_gradient", "locked": false, "schema_version": 3, "solution": true, "task": false}
def apply_gradient(optimizer, loss_object, model, x, y):
    """One optimizer step on the batch (x, y); returns (logits, loss_value) before the step."""
    ### BEGIN SOLUTION
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss_value = loss_object(y_true=y, y_pred=logits)
    gradients = tape.gradient(loss_value, model.trainable_weights)
    optimizer.apply_gradients(zip(gradients, model.trainable_weights))
    ### END SOLUTION
    return logits, loss_value

# %% nbgrader={"grade": true, "grade_id": "apply_gradient_updates_weights", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""Check that apply_gradient returns (logits, loss) and takes one step on every weight."""
### BEGIN HIDDEN TESTS
from autograder.observe import breast_cancer as _obs

_obs.apply_gradient_updates_weights(apply_gradient)
### END HIDDEN TESTS
_model = base_model()
_before = [w.numpy().copy() for w in _model.trainable_weights]
_logits_before = _model(x_batch).numpy()
_loss_before = float(loss_object(y_true=y_batch, y_pred=_logits_before))
_logits, _loss = apply_gradient(tf.keras.optimizers.SGD(learning_rate=0.5), loss_object,
                                _model, x_batch, y_batch)
_loss_after = float(loss_object(y_true=y_batch, y_pred=_model(x_batch)))
print(f"logits {_logits.shape}, loss before the step {float(_loss):.4f}, after {_loss_after:.4f}")
assert _logits.shape == y_batch.shape, f"logits have shape {_logits.shape}, labels {y_batch.shape}"
assert np.shape(_loss) == (), f"loss_value should be a scalar, got shape {np.shape(_loss)}"
assert np.allclose(_logits, _logits_before, atol=1e-5), (
    "logits differ from the model's output before the step: compute "
    "logits = model(x, training=True) inside the tape, before optimizer.apply_gradients")
assert np.isclose(float(_loss), _loss_before, rtol=1e-4), (
    f"loss_value is {float(_loss):.4f}, expected {_loss_before:.4f}, the loss before the step"
    + (" (that is the loss after the optimizer step: compute the loss inside the tape, "
       "before apply_gradients)" if np.isclose(float(_loss), _loss_after, rtol=1e-4) else ""))
_unchanged = [w.path for b, w in zip(_before, _model.trainable_weights)
              if np.array_equal(b, w.numpy())]
assert not _unchanged, (
    f"these weights did not change: {_unchanged}: take the gradients of all of "
    "model.trainable_weights and apply them with optimizer.apply_gradients")

# %% [markdown]
# ## Exercise 3: one epoch of training (2 points)
#
# Complete `train_data_for_one_epoch`. For every batch `(x_batch_train, y_batch_train)` of
# `train_dataset`:
#
# * call `apply_gradient` and append its `loss_value` to `losses`;
# * round the logits to 0/1 predictions with `tf.round(logits)` and update **both**
#   `train_acc_metric` and `train_f1score_metric` with the labels and these predictions
#   (the predictions of this batch, made before the step);
# * if `verbose`, print the batch's loss.
#
# Return the list of per-batch losses.

# %% nbgrader={"grade": false, "grade_id": "train_data_for_one_epoch", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_data_for_one_epoch(train_dataset, optimizer, loss_object, model,
                             train_acc_metric, train_f1score_metric, verbose=True):
    """Train on every batch once; returns the list of per-batch losses."""
    losses = []
    ### BEGIN SOLUTION
    for step, (x_batch_train, y_batch_train) in enumerate(train_dataset):
        logits, loss_value = apply_gradient(optimizer, loss_object, model,
                                            x_batch_train, y_batch_train)
        losses.append(loss_value)
        predictions = tf.round(logits)
        train_acc_metric.update_state(y_batch_train, predictions)
        train_f1score_metric.update_state(y_batch_train, predictions)
        if verbose:
            print(f"Training loss for step {step}: {float(loss_value):.4f}", end="\r")
    ### END SOLUTION
    return losses

# %% nbgrader={"grade": true, "grade_id": "train_data_for_one_epoch_losses_and_metrics", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""Check that train_data_for_one_epoch returns one loss per batch and updates both metrics."""
### BEGIN HIDDEN TESTS
from autograder.observe import breast_cancer as _obs

_obs.train_data_for_one_epoch_losses_and_metrics(train_data_for_one_epoch)
### END HIDDEN TESTS
# A model that predicts sigmoid(-0.2) = 0.45 (class 0) for every example, and three batches
# of 8 labelled 1, 1 and 0. Each SGD step (learning rate 2) moves the output towards the
# batch's labels: to about 0.73 after the first batch, 0.83 after the second. The predictions
# made before each step are 0, 1, 1: accuracy 1/3 and recall 1/2, and a first loss of
# -log(0.45) = 0.798. Predictions made after each step would be 1, 1, 0 (accuracy 1).
_model = tf.keras.Sequential([tf.keras.Input(shape=(9,)), tf.keras.layers.Dense(
    1, activation="sigmoid", kernel_initializer="zeros",
    bias_initializer=tf.keras.initializers.Constant(-0.2))])
_labels = np.array([1.0] * 16 + [0.0] * 8, dtype="float32").reshape(-1, 1)
_data = tf.data.Dataset.from_tensor_slices(
    (np.full((24, 9), 0.1, dtype="float32"), _labels)).batch(8)
_acc, _recall = tf.keras.metrics.BinaryAccuracy(), tf.keras.metrics.Recall()
_losses = train_data_for_one_epoch(_data, tf.keras.optimizers.SGD(learning_rate=2.0),
                                   loss_object, _model, _acc, _recall)
print(f"\n{len(_losses)} losses, accuracy {float(_acc.result()):.3f}, "
      f"recall {float(_recall.result()):.3f}")
assert len(_losses) == 3, (
    f"expected one loss per batch (3), got {len(_losses)}: append every batch's loss_value "
    "to the list and return the whole list")
assert np.isclose(float(_losses[0]), -np.log(1 / (1 + np.exp(0.2))), atol=1e-4), (
    f"the first batch's loss is {float(_losses[0]):.4f}, expected 0.7981 (the loss before the "
    "step; 0.3136 is the loss after the optimizer step)")
assert not np.isclose(float(_acc.result()), 1.0), (
    "train_acc_metric is 1.0, but the predictions made before each step are right for the "
    "second batch only (1/3): the metrics got predictions recomputed after the optimizer step. "
    "Update them with tf.round(logits) of the logits apply_gradient returned")
assert np.isclose(float(_acc.result()), 1 / 3, atol=1e-6), (
    f"train_acc_metric is {float(_acc.result()):.4f}, expected 1/3: every batch counted once, "
    "with the predictions made before its step (0 means the metric was reset inside the loop "
    "and kept only the last batch: reset the metrics once per epoch, in train_model)")
assert np.isclose(float(_recall.result()), 0.5, atol=1e-6), (
    f"the second metric (train_f1score_metric; a Recall here) is {float(_recall.result()):.4f}, "
    "expected 0.5: update both metrics with the batch's labels and tf.round(logits)")

# %% [markdown]
# ## Exercise 4: validation (1 point)
#
# Complete `perform_validation`. For every batch `(x_val, y_val)` of `test_dataset`: compute
# `val_logits = model(x_val)` and the loss `loss_object(y_true=y_val, y_pred=val_logits)`,
# append the loss to `losses`, and update `val_acc_metric` and `val_f1score_metric` with the
# rounded predictions. Validation never trains: no tape, no optimizer.
#
# The original `perform_validation()` took no arguments and read `test_dataset`, `model`,
# `loss_object`, `val_acc_metric` and `val_f1score_metric` from the notebook's globals. Here
# they are arguments, like in every other function of this notebook, so the tests can run it
# on their own model and data without touching yours.

# %% nbgrader={"grade": false, "grade_id": "perform_validation", "locked": false, "schema_version": 3, "solution": true, "task": false}
def perform_validation(test_dataset, model, loss_object, val_acc_metric, val_f1score_metric):
    """Validation losses per batch; updates the validation metrics (no training)."""
    losses = []
    ### BEGIN SOLUTION
    for x_val, y_val in test_dataset:
        val_logits = model(x_val)
        val_loss = loss_object(y_true=y_val, y_pred=val_logits)
        losses.append(val_loss)
        predictions = tf.round(val_logits)
        val_acc_metric.update_state(y_val, predictions)
        val_f1score_metric.update_state(y_val, predictions)
    ### END SOLUTION
    return losses

# %% nbgrader={"grade": true, "grade_id": "perform_validation_losses_and_metrics", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""Check that perform_validation returns one loss per test batch and updates the metrics."""
### BEGIN HIDDEN TESTS
from autograder.observe import breast_cancer as _obs

_obs.perform_validation_losses_and_metrics(perform_validation)
### END HIDDEN TESTS
_before = [w.numpy().copy() for w in model.trainable_weights]
_acc, _recall = tf.keras.metrics.BinaryAccuracy(), tf.keras.metrics.Recall()
_losses = perform_validation(test_dataset, model, loss_object, _acc, _recall)
_n_batches = int(test_dataset.cardinality())
_first_x, _first_y = next(iter(test_dataset))
_expected_acc = float(np.mean(np.round(model(norm_test_X).numpy()) == test_labels))
print(f"{len(_losses)} losses, accuracy {float(_acc.result()):.3f} (untrained model)")
assert len(_losses) == _n_batches, (
    f"expected one loss per batch ({_n_batches}), got {len(_losses)}")
assert np.isclose(float(_losses[0]), float(loss_object(_first_y, model(_first_x))), rtol=1e-4), (
    "the first loss is not loss_object(y_true=y_val, y_pred=model(x_val)) of the first batch")
assert all(np.array_equal(b, w.numpy()) for b, w in zip(_before, model.trainable_weights)), (
    "perform_validation changed the model's weights: validation never trains")
assert np.isclose(float(_acc.result()), _expected_acc, atol=1.5 / len(test_labels)), (
    f"val_acc_metric is {float(_acc.result()):.4f}, expected {_expected_acc:.4f}: update it "
    "once per batch with the labels and tf.round(val_logits)")

# %% [markdown]
# ## Exercise 5: the epoch loop (2 points)
#
# Complete `train_model`. For each epoch:
#
# 1. train with `train_data_for_one_epoch` and read `train_acc_metric.result()` and
#    `train_f1score_metric.result()`;
# 2. validate with `perform_validation` and read `val_acc_metric.result()` and
#    `val_f1score_metric.result()`;
# 3. append the mean training loss and the mean validation loss of the epoch (`np.mean` of
#    the per-batch losses) to `epochs_train_losses` and `epochs_val_losses`;
# 4. print the epoch's training and validation loss, accuracy and F1 score;
# 5. reset all four metrics, so that the next epoch's values cover that epoch only.
#
# The original notebook ran this loop at the top level; as a function, the tests can run it
# on their own data. Return `epochs_train_losses, epochs_val_losses`.

# %% nbgrader={"grade": false, "grade_id": "train_model", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_model(epochs, train_dataset, test_dataset, model, optimizer, loss_object,
                train_acc_metric, train_f1score_metric, val_acc_metric, val_f1score_metric):
    """Train for `epochs` epochs; returns (epochs_train_losses, epochs_val_losses)."""
    epochs_train_losses, epochs_val_losses = [], []
    ### BEGIN SOLUTION
    for epoch in range(epochs):
        losses_train = train_data_for_one_epoch(train_dataset, optimizer, loss_object, model,
                                                train_acc_metric, train_f1score_metric)
        train_acc = train_acc_metric.result()
        train_f1score = train_f1score_metric.result()

        losses_val = perform_validation(test_dataset, model, loss_object,
                                        val_acc_metric, val_f1score_metric)
        val_acc = val_acc_metric.result()
        val_f1score = val_f1score_metric.result()

        losses_train_mean = np.mean(losses_train)
        losses_val_mean = np.mean(losses_val)
        epochs_train_losses.append(losses_train_mean)
        epochs_val_losses.append(losses_val_mean)
        print(f"\rEpoch {epoch}: train loss {losses_train_mean:.4f}, "
              f"validation loss {losses_val_mean:.4f}, "
              f"train accuracy {float(train_acc):.4f}, "
              f"validation accuracy {float(val_acc):.4f}, "
              f"train F1 {float(train_f1score):.4f}, validation F1 {float(val_f1score):.4f}")

        train_acc_metric.reset_state()
        train_f1score_metric.reset_state()
        val_acc_metric.reset_state()
        val_f1score_metric.reset_state()
    ### END SOLUTION
    return epochs_train_losses, epochs_val_losses

# %% nbgrader={"grade": true, "grade_id": "train_model_resets_metrics", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""Check that train_model reports each epoch's own metrics and returns per-epoch losses."""
### BEGIN HIDDEN TESTS
from autograder.observe import breast_cancer as _obs

_obs.train_model_resets_metrics(train_model)
### END HIDDEN TESTS


class _CountingAccuracy(tf.keras.metrics.BinaryAccuracy):
    """BinaryAccuracy that notes how many batches each result() covers."""

    def __init__(self):
        super().__init__()
        self.batches, self.updates, self.covered = 0, 0, []

    def update_state(self, *args, **kwargs):
        self.batches += 1
        self.updates += 1
        return super().update_state(*args, **kwargs)

    def reset_state(self):
        self.batches = 0
        return super().reset_state()

    def result(self):
        self.covered.append(self.batches)
        return super().result()


_train_acc, _val_acc = _CountingAccuracy(), _CountingAccuracy()
_train_losses, _val_losses = train_model(
    2, train_dataset.take(2), test_dataset.take(1), base_model(),
    tf.keras.optimizers.RMSprop(learning_rate=0.001), loss_object,
    _train_acc, F1Score(), _val_acc, F1Score())
print("\nbatches covered by each accuracy read: train", _train_acc.covered,
      "validation", _val_acc.covered)
assert len(_train_losses) == 2 and len(_val_losses) == 2, (
    "train_model should return one mean training and one mean validation loss per epoch")
for _name, _metric, _per_epoch in (("train_acc_metric", _train_acc, 2),
                                   ("val_acc_metric", _val_acc, 1)):
    assert _metric.updates, (
        f"{_name} was never updated: pass train_model's own {_name} to "
        "train_data_for_one_epoch or perform_validation")
    assert _metric.covered, f"{_name}.result() was never read: print it every epoch"
    assert max(_metric.covered) <= _per_epoch, (
        f"{_name} was not reset per epoch: a value read in epoch 2 covers "
        f"{max(_metric.covered)} batches, both epochs ({_per_epoch} per epoch). Reset all four "
        "metrics once per epoch, after reading them")
    assert 0 not in _metric.covered, (
        f"{_name} was read right after a reset (it covered 0 batches): read result() first, "
        "then reset_state()")

# %% [markdown]
# ## Training
#
# Five epochs (two in the course's fast mode) are enough on this small data set.

# %% nbgrader={"grade": false, "grade_id": "run_training", "locked": true, "schema_version": 3, "solution": false, "task": false}
EPOCHS = pick(5, 2)
epochs_train_losses, epochs_val_losses = train_model(
    EPOCHS, train_dataset, test_dataset, model, optimizer, loss_object,
    train_acc_metric, train_f1score_metric, val_acc_metric, val_f1score_metric)

# %% [markdown]
# ## Evaluation
#
# The training and validation losses per epoch, then the confusion matrix of the trained
# model on the test set.

# %% nbgrader={"grade": false, "grade_id": "loss_curves", "locked": true, "schema_version": 3, "solution": false, "task": false}
breast_cancer.plot_loss_curves(epochs_train_losses, epochs_val_losses,
                        title=f"Loss per epoch ({EPOCHS} epochs)")

# %% nbgrader={"grade": false, "grade_id": "confusion_matrix_trained", "locked": true, "schema_version": 3, "solution": false, "task": false}
test_outputs = model(norm_test_X)
breast_cancer.plot_confusion_matrix(test_labels, tf.round(test_outputs),
                             title=f"Confusion matrix after {EPOCHS} epochs of training")

# %% [markdown]
# (The original notebook reused the untrained model's title for this plot.) Malignant masses
# predicted benign (bottom left) are the costly mistakes. The F1 score of the malignant class
# counts them and the false alarms (top right), without the credit accuracy gives for the many
# benign masses classified right.

# %% [markdown]
# ## Summary
#
# * A Keras metric keeps its state in variables made with `self.add_variable`, accumulates in
#   `update_state`, computes from that state in `result()` (`tf.math.divide_no_nan` where a
#   denominator can be 0), and `reset_state()` sets every one of them back to zero.
# * `apply_gradient` makes predictions and the loss inside the tape (`training=True`), then one
#   `optimizer.apply_gradients`; it returns what it computed *before* the step.
# * An epoch collects one loss per batch and updates each metric once per batch; the loop
#   reads every metric's `result()` after the epoch and only then resets it.
# * Note: `tf.keras` in TensorFlow 2.21 *is* Keras 3 (the same package as `import keras` in the
#   Fashion-MNIST notebook); this notebook keeps the original course's `tf.keras` spelling.
#
# ## Going further (self-study, not graded)
#
# 1. Add a `Precision` and a `Recall` metric to the loop and check that your F1 score equals
#    $2PR/(P+R)$ at the end of each epoch.
# 2. Weight the malignant class more in the loss (`sample_weight` in `loss_object`): how do the
#    confusion matrix and the F1 score change?
# 3. Wrap `apply_gradient` in `tf.function` and time an epoch before and after.

