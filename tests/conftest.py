"""Shared fixtures: real components, started on demand once per test session.

Each fixture starts a real process on a free loopback port, waits until it is ready while
watching that it is alive, and always stops it. Logs go to .test-logs/<session>/ (printed at
the end of the run); data lives in temp dirs removed at the end.

Session-scoped components are shared, so a test that breaks one on purpose (stops Postgres,
fills a disk) asks the matching factory for a private instance instead.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from podlab.localstack.jupyterhub import JupyterHubServer
from podlab.localstack.paths import new_log_dir, new_work_dir
from podlab.localstack.postgres import PostgresServer
from podlab.localstack.process import free_port
from podlab.localstack.s3 import S3Server
from tests.support.kube import KubeCluster, KubeSettings, Ports, delete_new_namespaces
from tests.support.release import CHART, Release, install
from tests.support.spark import SparkCluster

_LOG_DIR: Path | None = None


def _log_dir() -> Path:
    global _LOG_DIR
    if _LOG_DIR is None:
        _LOG_DIR = new_log_dir()
    return _LOG_DIR


@pytest.fixture(scope="session")
def component_log_dir() -> Path:
    """Where component logs of this test session are written (kept after the run)."""
    return _log_dir()


@pytest.fixture(scope="session")
def work_root() -> Iterator[Path]:
    """A session temp dir readable by other local users (PostgreSQL runs as `postgres`)."""
    path = new_work_dir("tests")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _LOG_DIR is not None:
        terminalreporter.write_line(f"component logs: {_LOG_DIR}")
    elif terminalreporter.config.pluginmanager.hasplugin("dsession"):
        terminalreporter.write_line("component logs: .test-logs/session-* (one folder per worker)")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Groups for `pytest -n N --dist loadgroup` (what `make test` runs): the tests on the
    installed release in one worker, so `helm install` runs once; the other tests on the
    Kubernetes test bed in one (a bed starts in seconds, a release takes a minute); every other
    file in its own, so a module's fixtures (a hub, an MLflow server) start once."""
    if not items or not items[0].config.pluginmanager.hasplugin("xdist"):
        return  # `-p no:xdist`: the xdist_group mark is not even registered
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "podlab_release" in fixtures:
            group = "kube-release"
        elif "kube" in fixtures:
            group = "kube"
        else:
            group = item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))


# -- PostgreSQL --------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def make_postgres(
    work_root: Path, component_log_dir: Path
) -> Iterator[Callable[[str], PostgresServer]]:
    """Factory for private clusters (fault tests stop/restart their own, not the shared one)."""
    started: list[PostgresServer] = []

    def make(name: str) -> PostgresServer:
        server = PostgresServer(
            work_root / f"pg-{name}", component_log_dir / f"pg-{name}", free_port()
        )
        started.append(server)
        return server.init().start()

    yield make
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def postgres(make_postgres: Callable[[str], PostgresServer]) -> PostgresServer:
    """The shared cluster; create a database per test area with `create_database`."""
    return make_postgres("shared")


# -- S3-compatible server ----------------------------------------------------------------------
@pytest.fixture(scope="session")
def s3_server(component_log_dir: Path) -> Iterator[S3Server]:
    server = S3Server(component_log_dir, free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The S3 server with its endpoint and credentials exported, as a user pod would see them."""
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    return s3_server


# -- JupyterHub + configurable-http-proxy -----------------------------------------------------
@pytest.fixture(scope="session")
def make_jupyterhub(
    work_root: Path, component_log_dir: Path
) -> Iterator[Callable[..., JupyterHubServer]]:
    """Factory: `make_jupyterhub("name", spawner_class=..., extra_config=...)` starts a hub."""
    started: list[JupyterHubServer] = []

    def make(name: str, **options: Any) -> JupyterHubServer:
        hub = JupyterHubServer(
            work_root / f"hub-{name}", component_log_dir / f"hub-{name}", **options
        )
        started.append(hub)
        return hub.start()

    yield make
    for hub in started:
        hub.stop()


@pytest.fixture(scope="session")
def jupyterhub(make_jupyterhub: Callable[..., JupyterHubServer]) -> JupyterHubServer:
    """A plain hub (SimpleLocalProcessSpawner, dummy auth, admin service token)."""
    return make_jupyterhub("shared")


# -- Spark standalone ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def spark_cluster(work_root: Path, component_log_dir: Path) -> Iterator[SparkCluster]:
    cluster = SparkCluster(work_root / "spark", component_log_dir).start()
    yield cluster
    cluster.stop()


# -- Kubernetes test bed ------------------------------------------------------------------------
@pytest.fixture(scope="session")
def kube(work_root: Path, component_log_dir: Path) -> Iterator[KubeCluster]:
    """A real control plane (etcd, kube-apiserver 1.34, controller-manager, scheduler), kwok
    nodes and the pod runner, on free loopback ports; what `make kube-up` starts."""
    settings = KubeSettings(
        state_dir=work_root / "kube", ports=Ports.free(), pid_files=False,
        logs=component_log_dir / "kube",
        # The installed release's hub: tests/hub/test_kube_rbac.py proves its ClusterRole
        # from what it did.
        audit_users=("system:serviceaccount:podlab:podlab-hub",),
    )  # fmt: skip
    cluster = KubeCluster(settings).up()
    yield cluster
    cluster.down(quiet=True)


@pytest.fixture(scope="session")
def podlab_release(kube: KubeCluster, make_postgres: Callable[[str], PostgresServer]) -> Release:
    """`helm install podlab charts/podlab` into the test bed with the production-shaped
    defaults and the Secrets helm asks for; the chart's pods run from the chart's specs."""
    return install(kube, make_postgres("release"))


GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
TRIAL_VALUES: dict[str, Any] = {
    "hub": {"auth": {"type": "password"}},
    # Where people open it (the browser journey maps podlab.test to the proxy's Service):
    # MLflow's UI accepts requests from this origin and host.
    "proxy": {"publicUrl": "http://podlab.test"},
    "podlab": {
        "admin_users": ["admin"],
        "profiles": [
            {"slug": "cpu-small", "display_name": "CPU small", "description": "Notebooks",
             "default": True, "cpu": {"guarantee": 0.5, "limit": 2},
             "memory": {"guarantee": "1Gi", "limit": "4Gi"}},
            {"slug": "cpu-large", "display_name": "CPU large", "description": "Bigger data",
             "cpu": {"guarantee": 1, "limit": 4}, "memory": {"guarantee": "2Gi", "limit": "8Gi"}},
            {"slug": "gpu-1", "display_name": "1 GPU", "description": "Training on one GPU",
             "cpu": {"guarantee": 4, "limit": 8}, "memory": {"guarantee": "16Gi", "limit": "32Gi"},
             "gpu": {"count": 1, "resource": "nvidia.com/gpu"},
             "node_selector": {"podlab.io/node-pool": "gpu"},
             "tolerations": [GPU_TOLERATION]},
            {"slug": "gpu-8", "display_name": "8 GPUs", "description": "Needs a big GPU node",
             "cpu": {"guarantee": 8, "limit": 16}, "memory": {"guarantee": "32Gi", "limit": "64Gi"},
             "gpu": {"count": 8}, "node_selector": {"podlab.io/node-pool": "gpu"},
             "tolerations": [GPU_TOLERATION]},
            {"slug": "gpu-spot", "display_name": "1 spot GPU", "description": "From zero",
             "cpu": {"guarantee": 4, "limit": 8}, "memory": {"guarantee": "16Gi", "limit": "32Gi"},
             "gpu": {"count": 1}, "node_selector": {"podlab.io/node-pool": "gpu-spot"},
             "tolerations": [GPU_TOLERATION], "scales_from_zero": True, "start_timeout": "10m"},
            {"slug": "quick-cull", "display_name": "Quick cull", "description": "Idle for 30 s",
             "cpu": {"guarantee": 0.5, "limit": 1}, "memory": {"guarantee": "1Gi", "limit": "2Gi"},
             "idle_timeout": "30s"},
        ],
        "culling": {"enabled": True, "default_idle_timeout": "1h", "check_every": "10s"},
    },
}  # fmt: skip
"""What a trial on the bed changes from the defaults: password login, the repository's
profiles and a GPU profile shaped like hub/examples/podlab.yaml's."""


@pytest.fixture(scope="session")
def trial_release(podlab_release: Release, work_root: Path) -> Release:
    """The installed release, upgraded (`helm upgrade --reuse-values -f`) to a trial: password
    login and CPU and GPU profiles. Tests of the installed defaults use podlab_release first."""
    values = work_root / "trial-values.yaml"
    values.write_text(yaml.safe_dump(TRIAL_VALUES))
    podlab_release.helm(
        "upgrade", podlab_release.name, str(CHART), "-n", podlab_release.namespace,
        "--reuse-values", "-f", str(values), "--wait", "--timeout", "6m",
    )  # fmt: skip
    return podlab_release


@pytest.fixture(autouse=True)
def _delete_test_namespaces() -> Iterator[None]:
    """Namespaces a test made on the shared test bed go when it ends (kube.new_namespace)."""
    yield
    delete_new_namespaces()
