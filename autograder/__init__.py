"""Instructor-side code: notebook build, grading checks, sandboxed autograding and reports.

Students never import this package; the hidden tests of the source notebooks do, inside the
grading sandbox.
"""
