"""Re-export of `podlab.localstack.jupyterhub` for the test fixtures."""

from podlab.localstack.jupyterhub import ADMIN_SERVICE, COMPONENT, JupyterHubServer

__all__ = ["ADMIN_SERVICE", "COMPONENT", "JupyterHubServer"]
