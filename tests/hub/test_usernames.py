"""Hostile usernames become valid, distinct, stable Kubernetes names, the same as KubeSpawner's.

Upper case, unicode, dots, `@`, 64+ characters and names differing only in case: each gets a
DNS-1123 namespace name of at most 63 characters, no two collide, the result does not depend on
the process (hash seeds, restarts), and `podlab.names.namespace_for` agrees with the namespace
KubeSpawner computes from `user_namespace_template`, so the ensure step and the pod meet.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest
from traitlets.config import Config

from podlab.k8s.objects import UserNamespace
from podlab.kubespawner_config import PodlabKubeSpawner, configure_kubespawner
from podlab.names import namespace_for, safe_username
from podlab.render import offline_kubeconfig
from tests.hub.k8s_helpers import make_config, rendered, schema_versions, validate_strict

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

HOSTILE = [
    "alice",
    "Alice",
    "ALICE",
    "alice.smith",
    "Alice.Smith",
    "alice@example.com",
    "Alice@Example.com",
    "alice_smith",
    "élodie",
    "Élodie",
    "Ölaf Ünsal",
    "用户",
    "ユーザー",
    "x--y",
    "-leading-dash",
    "0day",
    "emoji😀",
    "a" * 48,
    "a" * 49,
    "a" * 63,
    "a" * 64,
    "a" * 200,
    "A" * 64,
    "first.last+tag@sub.example.co.uk",
]


def test_namespaces_are_valid_dns_labels():
    for username in HOSTILE:
        namespace = namespace_for(username)
        assert len(namespace) <= 63, username
        assert DNS_LABEL.match(namespace), (username, namespace)
        assert namespace.startswith("podlab-")


def test_no_two_usernames_share_a_namespace():
    namespaces = [namespace_for(u) for u in HOSTILE]
    assert len(set(namespaces)) == len(HOSTILE)


def test_case_variants_are_distinct_and_valid_names_are_kept():
    assert namespace_for("alice") == "podlab-alice"
    assert namespace_for("Alice") != namespace_for("alice")
    assert namespace_for("Alice") != namespace_for("ALICE")
    assert namespace_for("a" * 48) == "podlab-" + "a" * 48
    # Longer than KubeSpawner's 48-character slug: cut and hashed, not kept.
    assert namespace_for("a" * 49) != "podlab-" + "a" * 49


def test_names_are_stable_across_processes():
    code = (
        "import json, sys; from podlab.names import namespace_for; "
        "print(json.dumps([namespace_for(u) for u in json.load(sys.stdin)]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(HOSTILE),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert json.loads(result.stdout) == [namespace_for(u) for u in HOSTILE]
    # Known values: a change here would orphan existing users' namespaces and homes.
    assert namespace_for("Alice") == "podlab-alice---3bc51062"
    assert safe_username("Alice.Smith@Example.com") == "alice-smith-example-com---6af58c96"


def test_kubespawner_computes_the_same_namespace_and_valid_object_names():
    async def compute() -> list[tuple[str, str, str, str]]:
        c = Config()
        configure_kubespawner(c, make_config())
        out = []
        for index, username in enumerate(HOSTILE):
            user = SimpleNamespace(name=username, id=index + 1, url=f"/user/{index}/")
            hub = SimpleNamespace(public_host="", url="/hub/", base_url="/hub/", api_url="h")
            spawner = PodlabKubeSpawner(config=c, user=user, hub=hub)
            out.append((username, spawner.namespace, spawner.pod_name, spawner.pvc_name))
        return out

    with offline_kubeconfig():
        results = asyncio.run(compute())
    pod_names = set()
    for username, namespace, pod_name, pvc_name in results:
        assert namespace == namespace_for(username)
        assert DNS_LABEL.match(pod_name), pod_name
        assert len(pod_name) <= 63, pod_name
        assert pvc_name == "home"
        pod_names.add(pod_name)
    assert len(pod_names) == len(HOSTILE)


@pytest.mark.parametrize("username", HOSTILE)
def test_user_label_is_a_valid_label_value(username):
    label = UserNamespace(username, namespace_for(username), "podlab").user_label
    assert len(label) <= 63
    assert LABEL_VALUE.match(label), label


@pytest.mark.parametrize("username", ["Élodie.O'Brien@Example.com", "A" * 80, "用户"])
def test_rendered_objects_for_hostile_users_are_valid(username):
    objects = rendered(make_config(), "gpu-1", user=username)
    namespace = namespace_for(username)
    assert objects["Namespace"]["metadata"]["name"] == namespace
    assert objects["Namespace"]["metadata"]["annotations"]["podlab.io/username"] == username
    for manifest in objects.values():
        if manifest["kind"] != "Namespace":
            assert manifest["metadata"]["namespace"] == namespace
        for value in manifest["metadata"].get("labels", {}).values():
            assert LABEL_VALUE.match(value), value
            assert len(value) <= 63, value
        validate_strict(manifest, schema_versions()[-1])
