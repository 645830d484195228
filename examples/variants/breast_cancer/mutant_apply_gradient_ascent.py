# kind: mutant
# description: the update written by hand with assign_add: the weights move up the gradient (gradient ascent)
# fails: apply_gradient_updates_weights
# message: gradient ascent
# %% solution: apply_gradient
def apply_gradient(optimizer, loss_object, model, x, y):
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss_value = loss_object(y_true=y, y_pred=logits)
    gradients = tape.gradient(loss_value, model.trainable_weights)
    for gradient, weight in zip(gradients, model.trainable_weights):
        weight.assign_add(optimizer.learning_rate * gradient)
    return logits, loss_value
