# kind: mutant
# description: the epoch updates the accuracy with a new forward pass after the optimizer step
# fails: train_data_for_one_epoch_losses
# message: predictions computed after the optimizer step
# %% solution: train_data_for_one_epoch
def train_data_for_one_epoch(
    train_ds, optimizer, loss_object, model, train_acc_metric, verbose=True
):
    """Train on every batch once; returns the list of per-batch losses."""
    losses = []
    for x_batch, y_batch in tqdm(train_ds, disable=not verbose):
        _, loss_value = apply_gradient(optimizer, loss_object, model, x_batch, y_batch)
        losses.append(float(loss_value))
        train_acc_metric.update_state(y_batch, model(x_batch, training=False))
    return losses
