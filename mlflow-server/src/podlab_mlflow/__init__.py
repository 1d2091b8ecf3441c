"""podlab's MLflow server: migrations, launch and hub-token authentication.

`cli` is the `podlab-mlflow` command (migrate, serve); `app` wraps MLflow's server in `gate`,
which authenticates each request with its hub token (`hubauth`) and decides it by the route
table (`routes`, `rules`) and the ownership records (`owners`, `grants`).
"""

__version__ = "0.1.0"
