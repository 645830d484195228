"""Grading stage: collect submissions, run them sandboxed, record the results."""
