"""`python -m grassroots`."""

import sys

from grassroots.local.cli import main

if __name__ == "__main__":
    sys.exit(main())
