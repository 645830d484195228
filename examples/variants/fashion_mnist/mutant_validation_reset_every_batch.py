# kind: mutant
# description: validation resets its metric at every batch, so it only covers the last batch
# fails: perform_validation_does_not_train
# message: reset inside the loop
# %% solution: perform_validation
def perform_validation(test_ds, model, loss_object, val_acc_metric):
    """Evaluate on every batch of test_ds; returns the list of per-batch losses."""
    losses = []
    for x_val, y_val in test_ds:
        val_acc_metric.reset_state()
        predictions = model(x_val, training=False)
        losses.append(float(loss_object(y_val, predictions)))
        val_acc_metric.update_state(y_val, predictions)
    return losses
