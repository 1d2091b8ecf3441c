"""Run podlab's components as local processes: for `make up` and for the tests.

The same code starts PostgreSQL, the S3-compatible server, the MLflow server and JupyterHub
whether a developer runs the platform or pytest starts a throwaway copy, so a fix to a
readiness check or an error message reaches both.
"""
