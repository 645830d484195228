# kind: mutant
# description: the forward pass runs before the tape is opened, so the tape records nothing and every gradient is None
# fails: apply_gradient_updates_weights
# message: GradientTape
# %% solution: apply_gradient
def apply_gradient(optimizer, loss_object, model, x, y):
    logits = model(x, training=True)
    with tf.GradientTape() as tape:
        loss_value = loss_object(y_true=y, y_pred=logits)
    gradients = tape.gradient(loss_value, model.trainable_weights)
    optimizer.apply_gradients(zip(gradients, model.trainable_weights))
    return logits, loss_value
