# kind: mutant
# description: the gradients are negated before the step (gradient ascent)
# fails: apply_gradient_updates_weights
# message: wrong sign
# %% solution: apply_gradient
def apply_gradient(optimizer, loss_object, model, x, y):
    """One optimizer step on the batch (x, y); returns (predictions, loss_value)."""
    with tf.GradientTape() as tape:
        predictions = model(x, training=True)
        loss_value = loss_object(y, predictions)
    gradients = tape.gradient(loss_value, model.trainable_weights)
    optimizer.apply_gradients(zip([-g for g in gradients], model.trainable_weights))
    return predictions, loss_value
