"""podlab hub side: one declarative config turned into JupyterHub + KubeSpawner settings.

The modules arrive with the hub issue; this package exists now so the development
environment installs it (editable) from the first commit on.
"""

__version__ = "0.3.0"
