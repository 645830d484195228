"""Observers: the only grading code that runs inside the student's kernel.

A hidden test cell calls one observer per grade cell, e.g.
``autograder.observe.training_basics.loss_is_mean_squared_error(loss)``. The observer reads the
grade cell's *challenge* (inputs drawn fresh for this grading run by the judge, plus the values
that stand in for the functions the exercise builds on), calls the student's function on it and
writes what it saw (returned values, weights before and after, per-epoch metric values, call
counts, exceptions) as JSON to the observation folder. Nothing here knows an expected value:
the verdict is computed outside the kernel by :mod:`autograder.judge`, which never runs student
code. Tampering with an observer only changes what it reports; to get points a submission has
to report the right numbers for inputs it has not seen before, that is, solve the exercise.
"""
