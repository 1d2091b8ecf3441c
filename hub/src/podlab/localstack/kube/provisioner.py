"""Dynamic provisioning for the `podlab-local` StorageClass: a local folder per claim.

The StorageClass binds WaitForFirstConsumer, as EBS does on EKS: the scheduler picks the pod's
node and writes it on the claim (`volume.kubernetes.io/selected-node`); this provisioner then
creates a PersistentVolume for exactly that claim, a `local` volume in a folder of its own with
node affinity to that node, and Kubernetes' PV controller binds the two. A claim outlives its
pods; when it is deleted, the volume is Released and, under the Delete policy, removed with its
folder. (kwok runs no kubelet, and real provisioners start helper pods that nothing would run.)
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from podlab.localstack.kube import topology
from podlab.localstack.kube.kubeapi import ApiError, KubeApi, Obj

SELECTED_NODE = "volume.kubernetes.io/selected-node"
STORAGE_PROVISIONER = (
    "volume.kubernetes.io/storage-provisioner",
    "volume.beta.kubernetes.io/storage-provisioner",
)
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
log = logging.getLogger("podlab.pod-runner.provisioner")


class Provisioner:
    def __init__(self, api: KubeApi, root: Path) -> None:
        self.api = api
        self.root = root

    def volume_name(self, claim: Obj) -> str:
        return f"pvc-{claim['metadata']['uid']}"

    def wants_volume(self, claim: Obj) -> bool:
        annotations = claim["metadata"].get("annotations") or {}
        ours = any(annotations.get(key) == topology.PROVISIONER for key in STORAGE_PROVISIONER)
        return (
            ours
            and SELECTED_NODE in annotations
            and not claim["spec"].get("volumeName")
            and claim.get("status", {}).get("phase") == "Pending"
            and "deletionTimestamp" not in claim["metadata"]
        )

    def reconcile(self, claims: list[Obj], volumes: list[Obj]) -> None:
        existing = {v["metadata"]["name"] for v in volumes}
        for claim in claims:
            if self.wants_volume(claim) and self.volume_name(claim) not in existing:
                self.provision(claim)
        for volume in volumes:
            annotations = volume["metadata"].get("annotations") or {}
            if (
                annotations.get(PROVISIONED_BY) == topology.PROVISIONER
                and volume.get("status", {}).get("phase") == "Released"
                and volume["spec"].get("persistentVolumeReclaimPolicy") == "Delete"
            ):
                self.remove(volume)

    def provision(self, claim: Obj) -> None:
        meta, spec = claim["metadata"], claim["spec"]
        node = meta["annotations"][SELECTED_NODE]
        name = self.volume_name(claim)
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o755)  # a fresh filesystem's root: fsGroup makes it the user's
        volume = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name, "annotations": {PROVISIONED_BY: topology.PROVISIONER}},
            "spec": {
                "capacity": {"storage": spec["resources"]["requests"]["storage"]},
                "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Delete",
                "storageClassName": spec.get("storageClassName") or topology.STORAGE_CLASS,
                "volumeMode": spec.get("volumeMode", "Filesystem"),
                "claimRef": {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "namespace": meta["namespace"],
                    "name": meta["name"],
                    "uid": meta["uid"],
                },
                "local": {"path": str(folder)},
                "nodeAffinity": {
                    "required": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {
                                        "key": "kubernetes.io/hostname",
                                        "operator": "In",
                                        "values": [node],
                                    }
                                ]
                            }
                        ]
                    }
                },
            },
        }
        try:
            self.api.create("/api/v1/persistentvolumes", volume)
            log.info("provisioned %s for %s/%s on %s", name, meta["namespace"], meta["name"], node)
        except ApiError as err:
            if err.status != 409:
                log.warning("provisioning %s failed: %s", name, err)

    def remove(self, volume: Obj) -> None:
        name = volume["metadata"]["name"]
        path = Path((volume["spec"].get("local") or {}).get("path", ""))
        if path.is_dir() and path.parent == self.root:
            shutil.rmtree(path, ignore_errors=True)
        self.api.delete(f"/api/v1/persistentvolumes/{name}")
        log.info("deleted released volume %s and its folder", name)
