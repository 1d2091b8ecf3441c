"""`python -m podlab.localstack up|down|status` (what `make up` / `make down` run)."""

import sys

from podlab.localstack.stack import main

sys.exit(main())
