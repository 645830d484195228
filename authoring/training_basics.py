# %% [markdown]
# # Training basics (pipeline smoke draft; replaced by the full notebook)

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import numpy as np
import tensorflow as tf

# %% nbgrader={"grade": false, "grade_id": "loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def loss(predicted_y, target_y):
    ### BEGIN SOLUTION
    return tf.reduce_mean(tf.square(predicted_y - target_y))
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "loss_matches_mse", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""Check that loss() is the mean squared error."""
assert np.isclose(float(loss(tf.constant([1.0, 2.0]), tf.constant([1.0, 4.0]))), 2.0)
### BEGIN HIDDEN TESTS
assert np.isclose(float(loss(tf.constant([3.0]), tf.constant([1.0]))), 4.0)
### END HIDDEN TESTS
