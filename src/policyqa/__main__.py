"""``python -m policyqa``: the same command line as the ``policyqa`` script (``policyqa.cli``)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
