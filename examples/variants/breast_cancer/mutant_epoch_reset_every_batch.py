# kind: mutant
# description: both training metrics reset at the start of every batch inside train_data_for_one_epoch, so the epoch's metrics cover only its last batch
# fails: train_data_for_one_epoch_losses_and_metrics
# message: reset inside train_data_for_one_epoch
# %% solution: train_data_for_one_epoch
def train_data_for_one_epoch(train_dataset, optimizer, loss_object, model,
                             train_acc_metric, train_f1score_metric, verbose=True):
    losses = []
    for step, (x_batch_train, y_batch_train) in enumerate(train_dataset):
        train_acc_metric.reset_state()
        train_f1score_metric.reset_state()
        logits, loss_value = apply_gradient(optimizer, loss_object, model,
                                            x_batch_train, y_batch_train)
        losses.append(loss_value)
        predictions = tf.round(logits)
        train_acc_metric.update_state(y_batch_train, predictions)
        train_f1score_metric.update_state(y_batch_train, predictions)
        if verbose:
            print(f"Training loss for step {step}: {float(loss_value):.4f}", end="\r")
    return losses
