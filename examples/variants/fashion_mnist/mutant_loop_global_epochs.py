# kind: mutant
# description: the epoch loop runs the notebook's global EPOCHS instead of its epochs argument
# fails: fit_custom_resets_metrics
# message: not a global EPOCHS
# %% solution: fit_custom
def fit_custom(
    model, optimizer, loss_object, train_ds, test_ds, train_acc_metric, val_acc_metric, epochs
):
    """Train for `epochs` epochs; returns {"loss", "accuracy", "val_loss", "val_accuracy"}."""
    history = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
    for epoch in range(EPOCHS):
        train_losses = train_data_for_one_epoch(
            train_ds, optimizer, loss_object, model, train_acc_metric
        )
        val_losses = perform_validation(test_ds, model, loss_object, val_acc_metric)
        history["loss"].append(float(np.mean(train_losses)))
        history["val_loss"].append(float(np.mean(val_losses)))
        history["accuracy"].append(float(train_acc_metric.result()))
        history["val_accuracy"].append(float(val_acc_metric.result()))
        train_acc_metric.reset_state()
        val_acc_metric.reset_state()
    return history
