"""``python -m lecture_utils``: the command line of :mod:`lecture_utils.cli`."""

import sys

from .cli import main

sys.exit(main())
