"""Render the chart with the real helm binary and hand the objects to the tests.

Renders are cached per (values files, --set flags) for the test session: helm template takes
~0.3 s, and most tests look at the same few renders (the defaults plus the examples).
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any

import yaml

from podlab.localstack.paths import REPO_ROOT, SETUP_HINT, tool

CHART = REPO_ROOT / "charts" / "podlab"
EXAMPLES_DIR = CHART / "examples"
EXAMPLES = sorted(p.stem for p in EXAMPLES_DIR.glob("*.yaml"))
DEFAULTS = "defaults"
RENDERS = (DEFAULTS, *EXAMPLES)
"""What the object-level tests check: values.yaml alone, and every example on top of it."""
RELEASE = "podlab"
NAMESPACE = "podlab"
KUBERNETES_VERSIONS = ("1.31.0", "1.32.0", "1.33.0", "1.34.0")
"""The Kubernetes versions the chart supports (Chart.yaml kubeVersion >= 1.31)."""


class HelmError(AssertionError):
    """helm exited non-zero; the message carries its stderr."""


def helm(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    binary = tool("helm")
    try:
        result = subprocess.run(
            [binary, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise AssertionError(f"helm is not installed: {SETUP_HINT}") from None
    if check and result.returncode != 0:
        raise HelmError(f"helm {' '.join(args)} failed:\n{result.stderr}")
    return result


def example(name: str) -> Path:
    return EXAMPLES_DIR / f"{name}.yaml"


def template_args(
    values: tuple[str, ...] = (), sets: tuple[str, ...] = (), extra: tuple[str, ...] = ()
) -> list[str]:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    for path in values:
        args += ["--values", path]
    for item in sets:
        args += ["--set-json", item]
    return args + list(extra)


@functools.lru_cache(maxsize=64)
def render_text(
    values: tuple[str, ...] = (), sets: tuple[str, ...] = (), extra: tuple[str, ...] = ()
) -> str:
    return helm(*template_args(values, sets, extra)).stdout


def render(
    values: tuple[str, ...] = (), sets: tuple[str, ...] = (), extra: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """The rendered objects (hooks and test pods included); fresh copies every call."""
    return [doc for doc in yaml.safe_load_all(render_text(values, sets, extra)) if doc]


def values_files(name: str) -> tuple[str, ...]:
    """The --values files of a render in RENDERS (none for the defaults)."""
    return () if name == DEFAULTS else (str(example(name)),)


def render_example(name: str, *sets: str) -> list[dict[str, Any]]:
    return render(values_files(name), tuple(sets))


def render_error(values: tuple[str, ...] = (), sets: tuple[str, ...] = ()) -> str:
    """helm template's stderr for values that must be rejected (fails if they render)."""
    result = helm(*template_args(values, sets), check=False)
    if result.returncode == 0:
        raise AssertionError(f"helm template accepted values it should reject: {values} {sets}")
    return result.stderr


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    matches = [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def by_component(objects: list[dict[str, Any]], kind: str, component: str) -> dict[str, Any]:
    matches = [
        o
        for o in objects
        if o["kind"] == kind
        and o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component
    ]
    assert len(matches) == 1, f"expected one {kind} of {component}, found {len(matches)}"
    return matches[0]


def pod_specs(objects: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(object, pod spec) for every workload: Deployments, StatefulSets, Jobs and Pods."""
    out = []
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet", "Job"):
            out.append((obj, obj["spec"]["template"]["spec"]))
        elif obj["kind"] == "Pod":
            out.append((obj, obj["spec"]))
    return out


def is_hook(obj: dict[str, Any]) -> bool:
    return "helm.sh/hook" in obj["metadata"].get("annotations", {})


def label(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"
