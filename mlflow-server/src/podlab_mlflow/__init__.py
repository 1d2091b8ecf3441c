"""podlab's MLflow server: migrations, launch and hub-token authentication.

The modules arrive with the mlflow-server issue; the package exists now so the development
environment installs it (editable) from the first commit on.
"""

__version__ = "0.1.0"
