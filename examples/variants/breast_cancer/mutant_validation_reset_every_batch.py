# kind: mutant
# description: the validation metrics are reset after every batch's loss inside perform_validation (before the update), so they report the last batch only
# fails: perform_validation_losses_and_metrics
# message: reset inside perform_validation
# %% solution: perform_validation
def perform_validation(test_dataset, model, loss_object, val_acc_metric, val_f1score_metric):
    losses = []
    for x_val, y_val in test_dataset:
        val_logits = model(x_val)
        losses.append(loss_object(y_true=y_val, y_pred=val_logits))
        val_acc_metric.reset_state()
        val_f1score_metric.reset_state()
        predictions = tf.round(val_logits)
        val_acc_metric.update_state(y_val, predictions)
        val_f1score_metric.update_state(y_val, predictions)
    return losses
