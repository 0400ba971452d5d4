"""``python -m fastbatch``: the command line (see :mod:`fastbatch.cli`)."""

import sys

from fastbatch.cli import main

if __name__ == "__main__":
    sys.exit(main())
