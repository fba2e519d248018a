"""`python -m depositnet` runs the `depositnet` command."""

import sys

from depositnet.cli import main

sys.exit(main())
