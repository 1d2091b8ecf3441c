"""What a kubelet gives a container besides its process: volumes as directories and the
environment, read from the API exactly as the pod spec names them.

Volumes are folders under the pod's directory (emptyDir, configMap, secret, downwardAPI,
projected with bound service account tokens) or existing folders (a PersistentVolume's local
or hostPath directory, a hostPath volume); the launcher bind-mounts them at their paths.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import time
from base64 import b64decode
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podlab.localstack.kube.kubeapi import ApiError, KubeApi, Obj
from podlab.quantities import parse_bytes, parse_cpu

TOKEN_SECONDS = 3607
"""The expiry kube-apiserver's ServiceAccount admission puts in kube-api-access volumes."""


class VolumeError(RuntimeError):
    """A volume or variable cannot be provided yet (a missing Secret, an unbound claim)."""


@dataclass
class PreparedVolume:
    name: str
    path: Path
    tokens: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    """Projected service account tokens: (file, source), refreshed before they expire."""


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(mode)
    os.replace(tmp, path)


def _data_of(obj: Obj) -> dict[str, bytes]:
    """A ConfigMap's or Secret's keys as bytes."""
    if obj.get("kind") == "Secret":
        return {k: b64decode(v) for k, v in (obj.get("data") or {}).items()}
    values = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
    values.update({k: b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return values


class Kubelet:
    """Resolves a pod's volumes and environment against the API."""

    def __init__(self, api: KubeApi) -> None:
        self.api = api

    # -- lookups -----------------------------------------------------------------------------
    def _object(self, kind: str, namespace: str, name: str, optional: bool) -> Obj | None:
        plural = "secrets" if kind == "Secret" else "configmaps"
        obj = self.api.get_or_none(f"/api/v1/namespaces/{namespace}/{plural}/{name}")
        if obj is None and not optional:
            raise VolumeError(f'{kind.lower()} "{name}" not found')
        return obj

    def field_value(self, pod: Obj, path: str, pod_ip: str, host_ip: str) -> str:
        meta, spec = pod["metadata"], pod["spec"]
        match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
        if match:
            return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
        simple = {
            "metadata.name": meta["name"],
            "metadata.namespace": meta["namespace"],
            "metadata.uid": meta["uid"],
            "spec.nodeName": spec.get("nodeName", ""),
            "spec.serviceAccountName": spec.get("serviceAccountName", ""),
            "status.hostIP": host_ip,
            "status.hostIPs": host_ip,
            "status.podIP": pod_ip,
            "status.podIPs": pod_ip,
        }
        if path in ("metadata.labels", "metadata.annotations"):
            values = meta.get(path.split(".")[1]) or {}
            return "\n".join(f'{k}="{v}"' for k, v in sorted(values.items()))
        if path not in simple:
            raise VolumeError(f"fieldRef {path} is not supported by the pod runner")
        return str(simple[path])

    @staticmethod
    def resource_value(container: Obj, ref: Obj) -> str:
        resource = ref["resource"]
        kind, _, name = resource.partition(".")
        amount = (container.get("resources", {}).get(kind) or {}).get(name)
        if amount is None:  # the kubelet falls back to the node's allocatable (ours: 8, 32Gi)
            amount = "8" if name == "cpu" else "32Gi"
        divisor = str(ref.get("divisor", "1"))
        if name == "cpu":
            value = parse_cpu(str(amount)) / parse_cpu(divisor)
        else:
            value = parse_bytes(str(amount)) / parse_bytes(divisor)
        return str(math.ceil(value))  # the kubelet rounds up

    # -- environment -------------------------------------------------------------------------
    def environment(
        self, pod: Obj, container: Obj, base: dict[str, str], pod_ip: str, host_ip: str
    ) -> dict[str, str]:
        """`base` (what the runtime sets), then envFrom, then env in order, `$(VAR)` expanded
        against what is already defined, as the kubelet does."""
        namespace = pod["metadata"]["namespace"]
        env = dict(base)
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix", "")
            for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                if key in source:
                    ref = source[key]
                    obj = self._object(kind, namespace, ref["name"], bool(ref.get("optional")))
                    for name, value in _data_of(obj or {}).items():
                        env[prefix + name] = value.decode(errors="replace")
        for item in container.get("env") or []:
            name = item["name"]
            if "valueFrom" not in item:
                env[name] = expand(item.get("value", ""), env)
                continue
            source = item["valueFrom"]
            if "fieldRef" in source:
                env[name] = self.field_value(pod, source["fieldRef"]["fieldPath"], pod_ip, host_ip)
            elif "resourceFieldRef" in source:
                env[name] = self.resource_value(container, source["resourceFieldRef"])
            else:
                kind, key = (
                    ("Secret", "secretKeyRef")
                    if "secretKeyRef" in source
                    else ("ConfigMap", "configMapKeyRef")
                )
                ref = source[key]
                obj = self._object(kind, namespace, ref["name"], bool(ref.get("optional")))
                data = _data_of(obj or {})
                if ref["key"] in data:
                    env[name] = data[ref["key"]].decode(errors="replace")
                elif not ref.get("optional"):
                    raise VolumeError(
                        f"couldn't find key {ref['key']} in {kind} {namespace}/{ref['name']}"
                    )
        return env

    # -- volumes -----------------------------------------------------------------------------
    def prepare(
        self, pod: Obj, volume: Obj, folder: Path, pod_ip: str, host_ip: str
    ) -> PreparedVolume:
        """The folder that stands for one volume of the pod (made or found)."""
        name = volume["name"]
        namespace = pod["metadata"]["namespace"]
        target = folder / name
        if "emptyDir" in volume:
            target.mkdir(parents=True, exist_ok=True)
            target.chmod(0o777)
            return PreparedVolume(name, target)
        if "hostPath" in volume:
            path = Path(volume["hostPath"]["path"])
            if volume["hostPath"].get("type") == "DirectoryOrCreate":
                path.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                raise VolumeError(f"hostPath {path} does not exist")
            return PreparedVolume(name, path)
        if "persistentVolumeClaim" in volume:
            return PreparedVolume(
                name, self._claim_path(namespace, volume["persistentVolumeClaim"]["claimName"])
            )
        prepared = PreparedVolume(name, target)
        target.mkdir(parents=True, exist_ok=True)
        if "configMap" in volume or "secret" in volume:
            self._project_object(
                namespace, volume, target, volume.get("configMap") or volume["secret"]
            )
        elif "downwardAPI" in volume:
            self._project_downward(pod, volume["downwardAPI"], target, pod_ip, host_ip)
        elif "projected" in volume:
            mode = volume["projected"].get("defaultMode", 0o644)
            for source in volume["projected"].get("sources") or []:
                if "serviceAccountToken" in source:
                    path = target / source["serviceAccountToken"]["path"]
                    self.write_token(pod, source["serviceAccountToken"], path, mode)
                    prepared.tokens.append((path, source["serviceAccountToken"]))
                elif "downwardAPI" in source:
                    self._project_downward(
                        pod, {**source["downwardAPI"], "defaultMode": mode}, target, pod_ip, host_ip
                    )
                elif "configMap" in source or "secret" in source:
                    ref = source.get("configMap") or source["secret"]
                    self._project_object(namespace, source, target, {**ref, "defaultMode": mode})
                else:
                    raise VolumeError(
                        f"projected source {sorted(source)} is not supported by the pod runner"
                    )
        else:
            kinds = sorted(set(volume) - {"name"})
            raise VolumeError(f"volume {name}: {kinds} is not supported by the pod runner")
        return prepared

    def _claim_path(self, namespace: str, claim: str) -> Path:
        pvc = self.api.get_or_none(f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{claim}")
        if pvc is None:
            raise VolumeError(f'persistentvolumeclaim "{claim}" not found')
        volume_name = pvc.get("spec", {}).get("volumeName")
        if pvc.get("status", {}).get("phase") != "Bound" or not volume_name:
            raise VolumeError(f'persistentvolumeclaim "{claim}" is not bound yet')
        pv = self.api.get(f"/api/v1/persistentvolumes/{volume_name}")
        source = pv["spec"].get("local") or pv["spec"].get("hostPath")
        if not source:
            raise VolumeError(f"persistentvolume {volume_name} is neither local nor hostPath")
        path = Path(source["path"])
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _project_object(self, namespace: str, volume: Obj, target: Path, ref: Obj) -> None:
        kind = "ConfigMap" if "configMap" in volume else "Secret"
        name = str(ref.get("name") or ref.get("secretName"))
        obj = self._object(kind, namespace, name, bool(ref.get("optional")))
        data = _data_of(obj or {})
        mode = int(ref.get("defaultMode", 0o644))
        items = ref.get("items") or [{"key": k, "path": k} for k in data]
        for item in items:
            if item["key"] not in data:
                if ref.get("optional"):
                    continue
                raise VolumeError(f"configmap/secret {name}: key {item['key']} not found")
            _write(target / item["path"], data[item["key"]], int(item.get("mode", mode)))

    def _project_downward(
        self, pod: Obj, spec: Obj, target: Path, pod_ip: str, host_ip: str
    ) -> None:
        mode = int(spec.get("defaultMode", 0o644))
        containers = {c["name"]: c for c in pod["spec"]["containers"]}
        for item in spec.get("items") or []:
            if "fieldRef" in item:
                value = self.field_value(pod, item["fieldRef"]["fieldPath"], pod_ip, host_ip)
            else:
                ref = item["resourceFieldRef"]
                value = self.resource_value(
                    containers[ref.get("containerName") or next(iter(containers))], ref
                )
            _write(target / item["path"], value.encode(), int(item.get("mode", mode)))

    def write_token(self, pod: Obj, source: Obj, path: Path, mode: int = 0o644) -> None:
        """A TokenRequest for the pod's ServiceAccount, bound to the pod (dies with it)."""
        meta = pod["metadata"]
        account = pod["spec"].get("serviceAccountName") or "default"
        request = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "audiences": [source["audience"]] if source.get("audience") else [],
                "expirationSeconds": int(source.get("expirationSeconds", TOKEN_SECONDS)),
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": meta["name"],
                    "uid": meta["uid"],
                },
            },
        }
        try:
            answer = self.api.create(
                f"/api/v1/namespaces/{meta['namespace']}/serviceaccounts/{account}/token", request
            )
        except ApiError as err:
            raise VolumeError(f"token for serviceaccount {account}: {err}") from err
        _write(path, answer["status"]["token"].encode(), mode)
        os.utime(path, (time.time(), time.time()))


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: known names replaced, `$$` escapes, the rest kept."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", replace, text)


def apply_fs_group(path: Path, group: int) -> None:
    """What the kubelet does for fsGroup on a volume it manages: group-owned, setgid, g+rw,
    skipped when the root already has the group (fsGroupChangePolicy OnRootMismatch)."""
    if path.stat().st_gid == group:
        return
    for root, dirs, files in os.walk(path):
        for name in [
            root,
            *(os.path.join(root, d) for d in dirs),
            *(os.path.join(root, f) for f in files),
        ]:
            os.lchown(name, -1, group)
            if not os.path.islink(name):
                mode = os.stat(name).st_mode
                extra = 0o2070 if os.path.isdir(name) else 0o060
                os.chmod(name, (mode | extra) & 0o7777)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
