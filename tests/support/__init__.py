"""Real-component test fixtures (Spark, MLflow, the Kubernetes test bed, a hub client) and their
helpers. PostgreSQL, S3 and JupyterHub come straight from `podlab.localstack`, the code `make up`
runs."""
