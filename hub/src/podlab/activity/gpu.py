"""How many GPUs there are and how busy they are: NVML, `nvidia-smi`, or a fake for tests.

NVML (`pynvml`, from `nvidia-ml-py`) is imported lazily: it exists in the GPU image but not in
the hub or the CPU image, and a missing library must mean "no GPUs", never a crash. Where NVML
is absent but the driver's `nvidia-smi` is on PATH, it is used instead. Tests and laptops use
two environment variables rather than hardware:

- `PODLAB_FAKE_GPUS=<n>`: the machine has n GPUs (the local spawner offers GPU profiles).
- `PODLAB_FAKE_GPU_UTILIZATION_FILE=<path>`: utilisation percentages, one per GPU, separated by
  commas, spaces or newlines (`~` expands to the server's $HOME, so each user can have one).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

FAKE_GPUS_ENV = "PODLAB_FAKE_GPUS"
FAKE_UTILIZATION_ENV = "PODLAB_FAKE_GPU_UTILIZATION_FILE"
_NVIDIA_SMI_TIMEOUT = 10


class GpuSource(Protocol):
    """Something that reports the utilisation (0-100) of each visible GPU."""

    name: str

    def utilizations(self) -> list[int]: ...


class NoGpus:
    name = "none"

    def utilizations(self) -> list[int]:
        return []


class FileGpuSource:
    """The fake device source: percentages read from a file on every call."""

    name = "file"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(os.path.expanduser(str(path)))

    def utilizations(self) -> list[int]:
        try:
            text = self.path.read_text()
        except OSError:
            return []
        return [max(0, min(100, int(v))) for v in re.findall(r"-?\d+", text)]


class NvmlGpuSource:
    name = "nvml"

    def __init__(self, nvml: Any) -> None:
        self._nvml = nvml

    def utilizations(self) -> list[int]:
        nvml = self._nvml
        out = []
        for index in range(int(nvml.nvmlDeviceGetCount())):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            out.append(int(nvml.nvmlDeviceGetUtilizationRates(handle).gpu))
        return out


class NvidiaSmiGpuSource:
    name = "nvidia-smi"

    def __init__(self, executable: str) -> None:
        self.executable = executable

    def utilizations(self) -> list[int]:
        try:
            result = subprocess.run(
                [
                    self.executable,
                    "--query-gpu=utilization.gpu",
                    "--format=csv,noheader,nounits",
                ],
                capture_output=True,
                text=True,
                timeout=_NVIDIA_SMI_TIMEOUT,
                check=True,
            )
        except (OSError, subprocess.SubprocessError):
            return []
        return [int(v) for v in re.findall(r"\d+", result.stdout)]


def _nvml() -> Any | None:
    try:
        import pynvml  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        return None
    return pynvml


def gpu_source(env: Mapping[str, str] | None = None) -> GpuSource:
    """The fake file when configured, else NVML, else nvidia-smi, else no GPUs."""
    env = os.environ if env is None else env
    if env.get(FAKE_UTILIZATION_ENV):
        return FileGpuSource(env[FAKE_UTILIZATION_ENV])
    nvml = _nvml()
    if nvml is not None:
        return NvmlGpuSource(nvml)
    smi = shutil.which("nvidia-smi")
    if smi:
        return NvidiaSmiGpuSource(smi)
    return NoGpus()


def count_gpus(env: Mapping[str, str] | None = None) -> tuple[int, str]:
    """(number of GPUs on this machine, how it was found) for the local spawner."""
    env = os.environ if env is None else env
    fake = env.get(FAKE_GPUS_ENV, "").strip()
    if fake:
        if not fake.isdigit():
            raise ValueError(f"{FAKE_GPUS_ENV} must be a whole number, got {fake!r}")
        return int(fake), f"{FAKE_GPUS_ENV}={fake}"
    nvml = _nvml()
    if nvml is not None:
        return int(nvml.nvmlDeviceGetCount()), "NVML"
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return 0, "no NVIDIA driver found (no NVML library, no nvidia-smi on PATH)"
    try:
        result = subprocess.run(
            [smi, "-L"], capture_output=True, text=True, timeout=_NVIDIA_SMI_TIMEOUT, check=True
        )
    except (OSError, subprocess.SubprocessError) as err:
        return 0, f"nvidia-smi -L failed: {err}"
    count = sum(1 for line in result.stdout.splitlines() if line.startswith("GPU "))
    return count, "nvidia-smi -L"
