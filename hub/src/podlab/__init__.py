"""podlab hub side: one declarative config turned into JupyterHub + KubeSpawner settings.

The same package runs in three places, each with its extra (hub/pyproject.toml): the hub
(`config`, `kubespawner_config`, `k8s`, `culling`), the user servers (`activity`, `startup`)
and a laptop (`localstack`, `localspawner`, the `podlab` command in `cli`).
"""

__version__ = "0.3.0"
