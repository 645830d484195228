# kind: mutant
# description: logits and loss returned are recomputed after the optimizer step (on the updated weights)
# fails: apply_gradient_updates_weights
# message: after the optimizer step
# %% solution: apply_gradient
def apply_gradient(optimizer, loss_object, model, x, y):
    with tf.GradientTape() as tape:
        loss_value = loss_object(y_true=y, y_pred=model(x, training=True))
    gradients = tape.gradient(loss_value, model.trainable_weights)
    optimizer.apply_gradients(zip(gradients, model.trainable_weights))
    logits = model(x, training=True)
    loss_value = loss_object(y_true=y, y_pred=logits)
    return logits, loss_value
