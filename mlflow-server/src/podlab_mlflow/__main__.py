"""`python -m podlab_mlflow` is `podlab-mlflow`."""

import sys

from podlab_mlflow.cli import main

sys.exit(main())
