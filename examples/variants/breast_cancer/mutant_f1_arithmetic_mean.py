# kind: mutant
# description: result() returns the arithmetic mean of precision and recall instead of their harmonic mean; the counters and reset_state are right, so only the F1 cell fails
# fails: f1_score_matches_sklearn
# message: the F1 formula is not
# %% solution: f1_score
class F1Score(tf.keras.metrics.Metric):

    def __init__(self, name='f1_score', **kwargs):
        super().__init__(name=name, **kwargs)
        self.tp = self.add_variable(shape=(), initializer='zeros', name='tp')
        self.fp = self.add_variable(shape=(), initializer='zeros', name='fp')
        self.tn = self.add_variable(shape=(), initializer='zeros', name='tn')
        self.fn = self.add_variable(shape=(), initializer='zeros', name='fn')

    def update_state(self, y_true, y_pred, sample_weight=None):
        conf_matrix = tf.math.confusion_matrix(
            tf.reshape(y_true, [-1]), tf.reshape(y_pred, [-1]), num_classes=2,
            dtype=self.dtype)
        self.tn.assign_add(conf_matrix[0][0])
        self.tp.assign_add(conf_matrix[1][1])
        self.fp.assign_add(conf_matrix[0][1])
        self.fn.assign_add(conf_matrix[1][0])

    def result(self):
        precision = tf.math.divide_no_nan(self.tp, self.tp + self.fp)
        recall = tf.math.divide_no_nan(self.tp, self.tp + self.fn)
        f1_score = (precision + recall) / 2
        return f1_score

    def reset_state(self):
        self.tp.assign(0)
        self.fp.assign(0)
        self.tn.assign(0)
        self.fn.assign(0)
