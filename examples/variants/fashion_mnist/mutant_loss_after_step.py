# kind: mutant
# description: apply_gradient returns the loss recomputed after the optimizer step
# fails: apply_gradient_updates_weights
# message: loss computed after the optimizer step
# %% solution: apply_gradient
def apply_gradient(optimizer, loss_object, model, x, y):
    """One optimizer step on the batch (x, y); returns (predictions, loss_value)."""
    with tf.GradientTape() as tape:
        predictions = model(x, training=True)
        loss_value = loss_object(y, predictions)
    gradients = tape.gradient(loss_value, model.trainable_weights)
    optimizer.apply_gradients(zip(gradients, model.trainable_weights))
    loss_value = loss_object(y, model(x, training=True))
    return predictions, loss_value
