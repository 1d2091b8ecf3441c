"""Helpers for the Kubernetes-side hub tests: configs, schema validation, rendered objects."""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from podlab.config import PodlabConfig, parse_config
from podlab.localstack.paths import REPO_ROOT
from podlab.render import render_objects

EXAMPLE_CONFIG = REPO_ROOT / "hub" / "examples" / "podlab.yaml"
HUB_CONFIG_FILE = REPO_ROOT / "hub" / "jupyterhub_config.py"
PODLAB_CLI = str(Path(sys.executable).parent / "podlab")


def schema_versions() -> list[str]:
    """The newest Kubernetes version kubernetes-validate bundles, plus 1.31 when bundled."""
    folder = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    bundled = {
        name.removeprefix("v").removesuffix("-local-strict")
        for name in os.listdir(folder)
        if name.endswith("-local-strict")
    }
    newest = max(bundled, key=lambda v: tuple(int(p) for p in v.split(".")))
    return sorted({newest} | ({"1.31.0"} & bundled))


def validate_strict(manifest: dict[str, Any], version: str) -> None:
    """Raises kubernetes_validate.ValidationError for any unknown or mistyped field."""
    kubernetes_validate.validate(manifest, version, strict=True)


BASE: dict[str, Any] = {
    "profiles": [
        {
            "slug": "cpu-small",
            "display_name": "Small",
            "description": "2 CPU, 8 GiB",
            "default": True,
            "cpu": {"guarantee": 0.5, "limit": 2},
            "memory": {"guarantee": "2Gi", "limit": "8Gi"},
        },
        {
            "slug": "gpu-1",
            "display_name": "One GPU",
            "cpu": {"guarantee": 4, "limit": 8},
            "memory": {"guarantee": "30Gi", "limit": "60Gi"},
            "gpu": {"count": 1, "resource": "nvidia.com/gpu"},
            "node_selector": {"podlab.io/node-pool": "gpu"},
            "tolerations": [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
            ],
        },
    ],
    "storage": {"home_size": "20Gi", "storage_class": "gp3"},
    "integrations": {
        "mlflow": {"url": "http://podlab-mlflow.podlab.svc.cluster.local:5000"},
        "s3": {
            "region": "eu-west-1",
            "shared_bucket": "podlab-shared",
            "endpoint_url": "http://10.0.9.9:9000",
        },
    },
    "network": {"platform_namespace": "podlab", "database": {"cidr": "10.0.48.0/24"}},
}


def config_data(**changes: Any) -> dict[str, Any]:
    """A copy of BASE with top-level sections replaced or (for `integrations`) merged."""
    data = copy.deepcopy(BASE)
    for key, value in changes.items():
        if key == "integrations":
            data["integrations"].update(value)
        else:
            data[key] = value
    return data


def make_config(**changes: Any) -> PodlabConfig:
    return parse_config(config_data(**changes))


def rendered(config: PodlabConfig, profile: str, user: str = "alice") -> dict[str, Any]:
    """The rendered objects of one user and profile, by kind (Pod, PersistentVolumeClaim, ...)."""
    objects = render_objects(config, profile=profile, username=user)
    by_kind: dict[str, Any] = {}
    for manifest in objects:
        assert manifest["kind"] not in by_kind, f"two {manifest['kind']} objects"
        by_kind[manifest["kind"]] = manifest
    return by_kind


def pod_env(pod: dict[str, Any]) -> dict[str, Any]:
    """name -> value (or the valueFrom mapping) of the notebook container."""
    (container,) = pod["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
