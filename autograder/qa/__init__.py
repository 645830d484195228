"""Quality of the grader: answer variants, example submissions, accuracy runs."""
