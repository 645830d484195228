# kind: mutant
# description: perform_validation keeps the old parameter order (test_ds, loss_object, model, val_acc_metric)
# fails: perform_validation_does_not_train
# message: parameters in the old order
# %% solution: perform_validation
def perform_validation(test_ds, loss_object, model, val_acc_metric):
    """Evaluate on every batch of test_ds; returns the list of per-batch losses."""
    losses = []
    for x_val, y_val in test_ds:
        predictions = model(x_val, training=False)
        losses.append(float(loss_object(y_val, predictions)))
        val_acc_metric.update_state(y_val, predictions)
    return losses
