"""`python -m podlab` is the `podlab` command (for an interpreter whose scripts are not on PATH)."""

import sys

from podlab.cli import main

sys.exit(main())
