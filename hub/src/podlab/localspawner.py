"""The local spawner behind `make up`: podlab's profiles and integrations without Kubernetes.

Built on JupyterHub's `LocalProcessSpawner`, with the parts that need system users replaced
(no setuid, home under the local data dir), so it runs as whoever runs the hub. What it shares
with the Kubernetes spawner is what users notice: the profile list (from the same podlab
config), the integration environment (`podlab.integrations.integration_env`), the startup
script that writes the client config files (`podlab.startup`, the same code the images run),
and the activity reporter (the `podlab.activity` server extension).

Locally enforced from a profile:
- memory limit and CPU limit, through a cgroup per user (`podlab-<data-dir-hash>-<safe-username>`)
  created below the hub's own cgroup, when the hub may create one (cgroup v1 memory/cpu controllers,
  or v2 with the controllers delegated; typically root). Otherwise the limits are advisory
  only (`MEM_LIMIT` / `CPU_LIMIT` in the environment, shown by resource-usage tools) and the
  hub logs why. Guarantees are never enforced locally (there is no scheduler).
- GPUs: a GPU profile is offered only when the machine has at least that many GPUs (NVML,
  else `nvidia-smi -L`; `PODLAB_FAKE_GPUS=n` pretends, for tests). The server sees
  `CUDA_VISIBLE_DEVICES` set to the first n GPUs; a CPU profile sees none. Two local GPU
  servers may share a GPU: there is no device plugin to hand out exclusive devices.
- Not applied locally: node selectors, tolerations, images (the hub's Python environment
  runs every server), network policies.

With a cgroup, stopping a server also ends every process it left behind (kernels, Spark
drivers, `nohup` jobs), as deleting a pod does; without one, only the server process is stopped.

Home: `<data_dir>/homes/<safe-username>`, never deleted by stopping, culling or restarting.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import sys
import time
from collections.abc import Mapping
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

from jupyterhub.spawner import LocalProcessSpawner
from tornado import web
from traitlets import Bool, Float, List, Unicode, default

from podlab.activity.gpu import count_gpus
from podlab.config import ConfigError, PodlabConfig, Profile, load_config
from podlab.integrations import integration_env
from podlab.names import namespace_for, safe_username
from podlab.profiles import (
    Offer,
    ProfileChoiceError,
    SpawnRefused,
    choose_profile,
    form_choice,
    render_form,
)

CGROUP_ROOT = Path("/sys/fs/cgroup")
CFS_PERIOD_US = 100_000
DEFAULT_PASSTHROUGH = [
    # The developer's own credentials and tools on a laptop; the platform injects none.
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "JAVA_HOME",
    "SPARK_LOCAL_IP",
    # Test and development switches of the activity reporter.
    "PODLAB_FAKE_GPU_UTILIZATION_FILE",
    "PODLAB_ACTIVITY_INTERVAL",
]


# -- cgroups --------------------------------------------------------------------------------------
class Cgroup:
    """A per-user cgroup holding the server's processes, with memory and CPU limits."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    @staticmethod
    def _own_paths(root: Path, proc_cgroup: str) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for line in proc_cgroup.splitlines():
            _, controllers, path = line.split(":", 2)
            rel = path.lstrip("/")
            if controllers == "" and (root / "cgroup.controllers").exists():
                found["unified"] = root / rel
            for controller in controllers.split(","):
                if controller in ("memory", "cpu") and (root / controller).is_dir():
                    found[controller] = root / controller / rel
        return found

    @classmethod
    def create(
        cls,
        name: str,
        memory_bytes: int,
        cpus: float,
        root: Path = CGROUP_ROOT,
        proc_cgroup: str | None = None,
    ) -> tuple[Cgroup | None, str]:
        """(the cgroup, "") or (None, why limits are not enforced)."""
        try:
            own = cls._own_paths(root, proc_cgroup or Path("/proc/self/cgroup").read_text())
            quota = max(1000, int(cpus * CFS_PERIOD_US))
            if "unified" in own:
                parent = own["unified"]
                (parent / "cgroup.subtree_control").write_text("+memory +cpu")
                path = parent / name
                path.mkdir(exist_ok=True)
                (path / "memory.max").write_text(str(memory_bytes))
                (path / "cpu.max").write_text(f"{quota} {CFS_PERIOD_US}")
                return cls([path]), ""
            if "memory" in own and "cpu" in own:
                memory, cpu = own["memory"] / name, own["cpu"] / name
                memory.mkdir(exist_ok=True)
                cpu.mkdir(exist_ok=True)
                (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
                (cpu / "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
                (cpu / "cpu.cfs_quota_us").write_text(str(quota))
                return cls([memory, cpu]), ""
            return None, "no memory/cpu cgroup controllers found"
        except OSError as err:
            return None, f"cannot create a cgroup ({err.strerror or err}); run the hub as root"

    def join(self, pid: int) -> None:
        for path in self.paths:
            (path / "cgroup.procs").write_text(str(pid))

    def pids(self) -> set[int]:
        found: set[int] = set()
        for path in self.paths:
            with contextlib.suppress(OSError):
                found.update(int(p) for p in (path / "cgroup.procs").read_text().split())
        return found

    async def terminate(self, grace: float = 5.0) -> None:
        """End every process left in the cgroup (kernels, Spark drivers, background jobs),
        as deleting a pod does, then remove the cgroup."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + grace
            while self.pids() and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        for path in self.paths:
            with contextlib.suppress(OSError):  # already gone, or a process would not die
                path.rmdir()


# -- the spawner ----------------------------------------------------------------------------------
class PodlabLocalSpawner(LocalProcessSpawner):  # type: ignore[misc]
    """Local processes with podlab profiles, integrations, startup files and activity."""

    config_path = Unicode(
        help="podlab.yaml (or chart values with a `podlab:` section); default $PODLAB_CONFIG"
    ).tag(config=True)

    @default("config_path")
    def _default_config_path(self) -> str:
        return os.environ.get("PODLAB_CONFIG", "")

    data_dir = Unicode(
        help="Local data dir; homes live in <data_dir>/homes. Default $PODLAB_DATA_DIR or "
        "./.podlab/data"
    ).tag(config=True)

    @default("data_dir")
    def _default_data_dir(self) -> str:
        return os.environ.get("PODLAB_DATA_DIR") or str(Path.cwd() / ".podlab" / "data")

    env_passthrough = List(
        Unicode(),
        default_value=DEFAULT_PASSTHROUGH,
        help="Hub environment variables passed to servers when set (integrations win).",
    ).tag(config=True)

    enforce_limits = Bool(
        True, help="Apply profile memory/CPU limits through cgroups when possible."
    ).tag(config=True)

    run_startup = Bool(True, help="Run podlab.startup before each server starts.").tag(config=True)

    activity_interval = Float(
        0.0, help="Seconds between activity probes in the server (0: the reporter's default)."
    ).tag(config=True)

    @default("cmd")
    def _default_cmd(self) -> list[str]:
        return [sys.executable, "-m", "jupyterhub.singleuser"]

    @default("options_from_form")
    def _default_options_from_form(self) -> Any:
        return self._profile_options_from_form

    @default("apply_user_options")
    def _default_apply_user_options(self) -> Any:
        return PodlabLocalSpawner._apply_profile_options

    # -- configuration --------------------------------------------------------------------------
    @cached_property
    def podlab_config(self) -> PodlabConfig:
        if not self.config_path:
            raise ConfigError(
                ["no config file: set PodlabLocalSpawner.config_path or PODLAB_CONFIG"]
            )
        return load_config(self.config_path)

    @cached_property
    def gpus(self) -> tuple[int, str]:
        return count_gpus()

    def unavailable_reason(self, profile: Profile) -> str | None:
        count, how = self.gpus
        if profile.gpu_count > count:
            plural = "s" if profile.gpu_count > 1 else ""
            return f"needs {profile.gpu_count} GPU{plural}; this machine has {count} ({how})"
        return None

    def offered_profiles(self) -> list[Profile]:
        return [p for p in self.podlab_config.profiles if self.unavailable_reason(p) is None]

    @property
    def home_dir(self) -> str:
        return str(Path(self.data_dir).absolute() / "homes" / safe_username(self.user.name))

    @property
    def cgroup_name(self) -> str:
        """Per user and per data dir: two local stacks (or test hubs) never share one."""
        stack = hashlib.sha256(str(Path(self.data_dir).absolute()).encode()).hexdigest()[:8]
        return f"podlab-{stack}-{safe_username(self.user.name)}"

    # -- options form and validation ------------------------------------------------------------
    @default("options_form")
    def _default_options_form(self) -> Any:
        return lambda spawner: spawner.render_options_form()

    def render_options_form(self) -> str:
        config = self.podlab_config
        offers = {}
        for profile in config.profiles:
            reason = self.unavailable_reason(profile)
            if reason:
                offers[profile.slug] = Offer(startable=False, note=reason)
        return render_form(config.profiles, config.default_profile.slug, offers)

    def profile_for(self, options: Any) -> Profile:
        """The profile these user options select among those this machine can run
        (`podlab.profiles`, the Kubernetes spawner's rule too)."""
        return choose_profile(self.podlab_config, options, self.unavailable_reason)

    def _profile_options_from_form(self, form_data: Mapping[str, list[str]]) -> dict[str, Any]:
        return form_choice(self.podlab_config, form_data, self.unavailable_reason)

    def _apply_profile_options(self, user_options: Any) -> None:
        try:
            self.profile = self.profile_for(user_options)
        except ProfileChoiceError as err:
            self.log.warning("Refusing to start %s: %s", self._log_name, err)
            raise SpawnRefused(str(err)) from None
        except ConfigError as err:
            raise web.HTTPError(500, "%s", str(err)) from None
        self.mem_limit = self.profile.memory.limit_bytes
        self.mem_guarantee = self.profile.memory.guarantee_bytes
        self.cpu_limit = self.profile.cpu.limit
        self.cpu_guarantee = self.profile.cpu.guarantee

    profile: Profile | None = None
    _cgroup: Cgroup | None = None

    # -- environment ----------------------------------------------------------------------------
    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        env["USER"] = self.user.name
        env["HOME"] = self.home_dir
        env["SHELL"] = "/bin/bash" if Path("/bin/bash").exists() else "/bin/sh"
        return env

    def get_env(self) -> dict[str, str]:
        env: dict[str, str] = super().get_env()
        for key in self.env_passthrough:
            if key in os.environ:
                env.setdefault(key, os.environ[key])
        profile = self.profile or self.profile_for(self.user_options)
        env.update(
            integration_env(
                self.podlab_config,
                profile,
                username=self.user.name,
                namespace=namespace_for(self.user.name),
                home=self.home_dir,
                api_token=self.api_token,
            )
        )
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in range(profile.gpu_count))
        packaged = resources.files("podlab.activity") / "jupyter_config"
        env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
            p for p in (str(packaged), os.environ.get("JUPYTER_CONFIG_PATH", "")) if p
        )
        if self.activity_interval:
            env["PODLAB_ACTIVITY_INTERVAL"] = f"{self.activity_interval:g}"
        return env

    # -- lifecycle ------------------------------------------------------------------------------
    def get_args(self) -> list[str]:
        args: list[str] = super().get_args()
        if os.geteuid() == 0:  # servers run as the hub's user here, which may be root
            args.append("--ServerApp.allow_root=True")
        return args

    def make_preexec_fn(self, name: str) -> Any:
        home = self.home_dir
        cgroup = self._cgroup

        def preexec() -> None:
            os.makedirs(home, 0o755, exist_ok=True)
            os.chdir(home)
            if cgroup is not None:
                cgroup.join(os.getpid())

        return preexec

    async def run_startup_script(self, env: Mapping[str, str]) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "podlab.startup",
            env=dict(env),
            cwd=self.home_dir,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        for line in output.decode(errors="replace").splitlines():
            self.log.info("%s: %s", self._log_name, line)
        if process.returncode:
            self.log.warning(
                "%s: podlab.startup exited %s; starting the server anyway",
                self._log_name,
                process.returncode,
            )

    async def start(self) -> Any:
        if self.profile is None:  # apply_user_options was bypassed (custom hub config)
            self._apply_profile_options(self.user_options)
        assert self.profile is not None
        Path(self.home_dir).mkdir(parents=True, exist_ok=True)
        if self.run_startup:
            await self.run_startup_script(self.get_env())
        self._cgroup = None
        if self.enforce_limits:
            self._cgroup, why = Cgroup.create(
                self.cgroup_name, self.profile.memory.limit_bytes, self.profile.cpu.limit
            )
            if self._cgroup is None:
                self.log.warning(
                    "%s: memory/CPU limits of profile %s are advisory only: %s",
                    self._log_name,
                    self.profile.slug,
                    why,
                )
        self.log.info(
            "%s: starting profile %s (home %s)", self._log_name, self.profile.slug, self.home_dir
        )
        return await super().start()

    async def stop(self, now: bool = False) -> None:
        await super().stop(now=now)
        if self._cgroup is not None:
            await self._cgroup.terminate()
            self._cgroup = None

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = super().get_state()
        if self.profile is not None:
            state["podlab_profile"] = self.profile.slug
        if self._cgroup is not None:
            state["podlab_cgroups"] = [str(p) for p in self._cgroup.paths]
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        if state.get("podlab_cgroups"):
            self._cgroup = Cgroup([Path(p) for p in state["podlab_cgroups"]])

    def clear_state(self) -> None:
        super().clear_state()
        self.profile = None
