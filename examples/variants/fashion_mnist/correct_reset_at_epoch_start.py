# kind: correct
# description: the epoch loop resets both metrics at the start of each epoch (each epoch's values are its own)
# %% solution: fit_custom
def fit_custom(
    model, optimizer, loss_object, train_ds, test_ds, train_acc_metric, val_acc_metric, epochs
):
    """Train for `epochs` epochs; returns {"loss", "accuracy", "val_loss", "val_accuracy"}."""
    history = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
    for epoch in range(epochs):
        train_acc_metric.reset_state()
        val_acc_metric.reset_state()
        train_losses = train_data_for_one_epoch(
            train_ds, optimizer, loss_object, model, train_acc_metric, verbose=False
        )
        val_losses = perform_validation(test_ds, model, loss_object, val_acc_metric)
        for key, value in (("loss", np.mean(train_losses)), ("val_loss", np.mean(val_losses)),
                           ("accuracy", train_acc_metric.result()),
                           ("val_accuracy", val_acc_metric.result())):
            history[key].append(float(value))
        print(f"epoch {epoch + 1}: {history['accuracy'][-1]:.4f}")
    return history
