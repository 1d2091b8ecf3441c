"""Tests of podlab's MLflow server (mlflow-server/): real hub, Postgres, S3 and server."""
