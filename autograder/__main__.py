"""``python -m autograder <subcommand>``: see :mod:`autograder.cli`."""

import sys

from autograder.cli import main

sys.exit(main())
