"""The activity reporter: a Jupyter server extension that makes real work visible to culling.

Enabled by `jupyter-config/jupyter_server_config.d/podlab-activity.json`, installed with the
`podlab` package into `{sys.prefix}/etc/jupyter` (the single-user image installs the package;
locally the hub's editable install does), so `jupyter server`, `jupyter lab` and
`jupyterhub-singleuser` all load it. Outside JupyterHub (no hub token in the environment) it
stays off. See `probes.py` for what counts as activity and `reporter.py` for the report.

Environment: `PODLAB_ACTIVITY_INTERVAL` (seconds between probes, default 60),
`PODLAB_GPU_BUSY_THRESHOLD` (percent, set by the spawner from `culling.gpu_busy_threshold`),
`PODLAB_FAKE_GPU_UTILIZATION_FILE` (tests), `PODLAB_USER` (exec-session filter).
"""

from __future__ import annotations

import os
from typing import Any

from podlab.activity.gpu import gpu_source
from podlab.activity.probes import ActivityProbe, exec_sessions
from podlab.activity.reporter import ActivityReporter, HubTarget, interval_from_env

EXTENSION_NAME = "podlab.activity"


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": EXTENSION_NAME}]


def build_probe(serverapp: Any, env: Any = None) -> ActivityProbe:
    env = os.environ if env is None else env
    server_pid = os.getpid()
    user = env.get("PODLAB_USER") or env.get("JUPYTERHUB_USER", "")

    def kernels() -> list[dict[str, Any]]:
        return list(serverapp.kernel_manager.list_kernels())

    def terminals() -> dict[str, Any]:
        manager = serverapp.web_app.settings.get("terminal_manager")
        return dict(getattr(manager, "terminals", {}) or {})

    try:
        threshold = int(env.get("PODLAB_GPU_BUSY_THRESHOLD", "10"))
    except ValueError:
        threshold = 10
    return ActivityProbe(
        kernels=kernels,
        terminals=terminals,
        sessions=(lambda: exec_sessions(server_pid, user)) if user else list,
        gpu=gpu_source(env),
        gpu_busy_threshold=threshold,
    )


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from tornado.ioloop import PeriodicCallback

    log = serverapp.log
    target = HubTarget.from_env(os.environ)
    if target is None:
        log.info("podlab activity reporter: not running under JupyterHub; off")
        return
    probe = build_probe(serverapp)
    reporter = ActivityReporter(probe, target, logger=log)
    interval = interval_from_env()
    callback = PeriodicCallback(reporter.tick, interval * 1000)
    callback.start()
    serverapp.web_app.settings["podlab_activity_reporter"] = reporter
    log.info(
        "podlab activity reporter: probing every %ss (kernels, terminals, exec sessions, "
        "GPU via %s at >= %s%%)",
        interval,
        probe.gpu.name,
        probe.gpu_busy_threshold,
    )
