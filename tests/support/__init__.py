"""Real-component test fixtures (PostgreSQL, S3, JupyterHub + proxy, Spark) and their helpers."""
