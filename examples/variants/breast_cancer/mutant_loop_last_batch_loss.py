# kind: mutant
# description: the per-epoch history keeps the last batch's loss instead of the mean of the epoch's losses
# fails: train_model_resets_metrics
# message: last batch's loss
# %% solution: train_model
def train_model(epochs, train_dataset, test_dataset, model, optimizer, loss_object,
                train_acc_metric, train_f1score_metric, val_acc_metric, val_f1score_metric):
    epochs_train_losses, epochs_val_losses = [], []
    metrics = [train_acc_metric, train_f1score_metric, val_acc_metric, val_f1score_metric]
    for epoch in range(epochs):
        losses_train = train_data_for_one_epoch(train_dataset, optimizer, loss_object, model,
                                                train_acc_metric, train_f1score_metric)
        losses_val = perform_validation(test_dataset, model, loss_object,
                                        val_acc_metric, val_f1score_metric)
        values = [float(metric.result()) for metric in metrics]
        epochs_train_losses.append(float(losses_train[-1]))
        epochs_val_losses.append(float(losses_val[-1]))
        print(f"Epoch {epoch}: {epochs_train_losses[-1]:.4f} {epochs_val_losses[-1]:.4f}", values)
        for metric in metrics:
            metric.reset_state()
    return epochs_train_losses, epochs_val_losses
