"""Services for the pods the runner runs: a small kube-proxy and the names a cluster DNS gives.

Kubernetes refuses loopback addresses in Endpoints, and the test bed has no kube-proxy, so a
Service would lead nowhere. The runner makes it lead where a cluster would:

- every ClusterIP Service (its IP is on 127.2.0.0/16) gets a TCP listener on clusterIP:port
  that forwards each connection to a ready pod the Service selects (round robin), at the
  pod's IP and the resolved targetPort; the `kubernetes` Service forwards to the API server;
- every pod sees its cluster's names in its own /etc/hosts (bind-mounted in its mount
  namespace): `name`, `name.namespace`, `name.namespace.svc` and
  `name.namespace.svc.cluster.local` for the Services of its namespace, the longer forms for
  the others, headless Services and StatefulSet pod names at the pods' IPs.

Only pods the runner runs are endpoints: kwok's pods have no process behind their IP. A
Service without a selector may name a server on this machine instead, in the annotation
`podlab.io/forward-to: 127.0.0.1:PORT` (loopback only): how the bed stands in for a managed
database, as RDS is reached by name on EKS.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import itertools
import logging
import threading
from collections.abc import Callable

from podlab.localstack.kube.kubeapi import Obj

log = logging.getLogger("podlab.pod-runner.services")
DOMAIN = "cluster.local"
FORWARD_TO = "podlab.io/forward-to"
Endpoint = tuple[str, int]


def forward_target(service: Obj) -> Endpoint | None:
    """The loopback server a selector-less Service names (FORWARD_TO), if any."""
    value = (service["metadata"].get("annotations") or {}).get(FORWARD_TO, "")
    host, _, port = value.rpartition(":")
    try:
        if port.isdigit() and ipaddress.ip_address(host) in ipaddress.ip_network("127.0.0.0/8"):
            return host, int(port)
    except ValueError:
        pass
    if value:
        log.warning("ignoring %s=%r: only 127.0.0.0/8 HOST:PORT", FORWARD_TO, value)
    return None


def is_ready(pod: Obj) -> bool:
    status = pod.get("status") or {}
    return bool(status.get("podIP")) and any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def selects(service: Obj, pod: Obj) -> bool:
    selector = service["spec"].get("selector") or {}
    labels = pod["metadata"].get("labels") or {}
    return (
        bool(selector)
        and pod["metadata"]["namespace"] == service["metadata"]["namespace"]
        and all(labels.get(k) == v for k, v in selector.items())
        and "deletionTimestamp" not in pod["metadata"]
    )


def target_port(pod: Obj, port: Obj) -> int | None:
    """The pod port a Service port leads to (a number, or a container port's name)."""
    target = port.get("targetPort", port["port"])
    if isinstance(target, int) or str(target).isdigit():
        return int(str(target))
    for container in pod["spec"].get("containers") or []:
        for declared in container.get("ports") or []:
            if declared.get("name") == target:
                return int(declared["containerPort"])
    return None


def service_names(service: Obj, namespace: str) -> list[str]:
    """The names a pod in `namespace` may use for `service`."""
    name, home = service["metadata"]["name"], service["metadata"]["namespace"]
    names = [f"{name}.{home}", f"{name}.{home}.svc", f"{name}.{home}.svc.{DOMAIN}"]
    return [name, *names] if home == namespace else names


def hosts_file(pod: Obj, pod_ip: str, services: list[Obj], pods: list[Obj]) -> str:
    """/etc/hosts of one pod: itself, then the cluster's Services as it may name them."""
    meta, namespace = pod["metadata"], pod["metadata"]["namespace"]
    lines = ["# Written by the podlab pod runner: the cluster's names for this pod.",
             "127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
             f"{pod_ip}\t{pod['spec'].get('hostname') or meta['name']}"]  # fmt: skip
    for service in sorted(
        services, key=lambda s: (s["metadata"]["namespace"], s["metadata"]["name"])
    ):
        cluster_ip = service["spec"].get("clusterIP")
        names = " ".join(service_names(service, namespace))
        if cluster_ip and cluster_ip != "None":
            lines.append(f"{cluster_ip}\t{names}")
            continue
        ready = [p for p in pods if selects(service, p) and is_ready(p)]
        if ready:  # headless: the pods themselves
            lines.append(f"{ready[0]['status']['podIP']}\t{names}")
        for member in ready:
            spec = member["spec"]
            if spec.get("subdomain") == service["metadata"]["name"] and spec.get("hostname"):
                home = service["metadata"]
                fqdn = f"{spec['hostname']}.{home['name']}.{home['namespace']}.svc.{DOMAIN}"
                lines.append(f"{member['status']['podIP']}\t{fqdn}")
    return "\n".join(lines) + "\n"


class ServiceProxy:
    """One TCP listener per ClusterIP Service port, in an event loop of its own thread."""

    def __init__(self, pods: Callable[[], list[Obj]], api_server: Endpoint) -> None:
        self.pods = pods
        self.api_server = api_server
        self.loop = asyncio.new_event_loop()
        self.listeners: dict[Endpoint, asyncio.Server] = {}
        self.routes: dict[Endpoint, tuple[Obj, Obj]] = {}
        self.turn = itertools.count()
        threading.Thread(target=self.loop.run_forever, name="service proxy", daemon=True).start()

    def update(self, services: list[Obj]) -> None:
        routes: dict[Endpoint, tuple[Obj, Obj]] = {}
        for service in services:
            cluster_ip = service["spec"].get("clusterIP")
            if not cluster_ip or cluster_ip == "None":
                continue
            for port in service["spec"].get("ports") or []:
                if port.get("protocol", "TCP") == "TCP":
                    routes[(cluster_ip, int(port["port"]))] = (service, port)
        self.routes = routes
        future = asyncio.run_coroutine_threadsafe(self._listen(set(routes)), self.loop)
        future.result(timeout=30)

    async def _listen(self, wanted: set[Endpoint]) -> None:
        for key in [k for k in self.listeners if k not in wanted]:
            self.listeners.pop(key).close()
        for key in wanted - set(self.listeners):
            try:
                self.listeners[key] = await asyncio.start_server(
                    functools.partial(self._forward, key), host=key[0], port=key[1]
                )
            except OSError as err:
                log.warning("cannot listen on %s:%s for a Service: %s", *key, err)

    def endpoint(self, key: Endpoint) -> Endpoint | None:
        route = self.routes.get(key)
        if route is None:
            return None
        service, port = route
        meta = service["metadata"]
        if (meta["namespace"], meta["name"]) == ("default", "kubernetes"):
            return self.api_server
        if not service["spec"].get("selector"):
            return forward_target(service)
        candidates = []
        for pod in self.pods():
            if selects(service, pod) and is_ready(pod):
                number = target_port(pod, port)
                if number is not None:
                    candidates.append((str(pod["status"]["podIP"]), number))
        if not candidates:
            return None
        return sorted(candidates)[next(self.turn) % len(candidates)]

    async def _forward(
        self, key: Endpoint, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        target = self.endpoint(key)
        if target is None:
            writer.close()  # no ready endpoint: refused, as with a Service without endpoints
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        for end in (writer, upstream_writer):
            with contextlib.suppress(OSError):
                end.close()

    def close(self) -> None:
        async def stop() -> None:
            for server in self.listeners.values():
                server.close()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction; at its end, half-close (the other direction may still talk)."""
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
