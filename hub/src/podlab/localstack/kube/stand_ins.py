"""Third-party images the pod runner stands in for with this machine's programs.

The runner runs no images (podrun.py): podlab's own images are modelled from their Dockerfiles
(podlab.images). The chart's one other image is the official `postgres` image of the bundled
trial database (`postgresql.bundled`); it is modelled here: its entrypoint's documented
behaviour in a script of ours (postgres-entrypoint.sh), the machine's PostgreSQL binaries
(`find_pg_bin`: Debian's, or the pgserver wheel's) and the image's `postgres` user (uid 999).
The major version is the machine's, not the image tag's; the container log says which.
"""

from __future__ import annotations

import functools
import subprocess
import tempfile
from pathlib import Path

from podlab.images import ImageModel
from podlab.localstack.postgres import find_pg_bin

POSTGRES_ENTRYPOINT = Path(__file__).with_name("postgres-entrypoint.sh")
POSTGRES_UID = 999
"""The official image's `postgres` user and group (the chart's securityContext uses them)."""


def repository_name(reference: str) -> str:
    """`docker.io/library/postgres:17.6@sha256:...` -> `postgres`."""
    return reference.split("@", 1)[0].rsplit("/", 1)[-1].partition(":")[0]


def stand_in(reference: str, base_path: str) -> ImageModel | None:
    """The model of a third-party image the runner can run, or None."""
    if repository_name(reference) != "postgres":
        return None
    return _postgres(base_path)


@functools.cache
def _postgres(base_path: str) -> ImageModel:
    bin_dir = find_pg_bin()
    passwd, group = _account_files()
    version = subprocess.run(
        [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return ImageModel(
        name="postgres",
        entrypoint=["/usr/local/bin/docker-entrypoint.sh"],
        cmd=["postgres"],
        env={
            "PATH": f"/usr/local/bin:{bin_dir}:{base_path}",
            "PGDATA": "/var/lib/postgresql/data",
            "PODLAB_STAND_IN": f"postgres image run with this machine's {version}",
        },
        user=(POSTGRES_UID, POSTGRES_UID),
        files=[
            (POSTGRES_ENTRYPOINT, "/usr/local/bin/docker-entrypoint.sh"),
            (passwd, "/etc/passwd"),
            (group, "/etc/group"),
        ],
    )


def _account_files() -> tuple[Path, Path]:
    """This machine's /etc/passwd and /etc/group plus the image's `postgres` user: initdb and
    postgres refuse to run as a uid without a name. Written once per runner process into a
    private new folder (the pods see only the bind-mounted files)."""
    folder = Path(tempfile.mkdtemp(prefix="podlab-stand-ins-"))
    files = []
    for name, line in (
        ("passwd", f"postgres:x:{POSTGRES_UID}:{POSTGRES_UID}::/var/lib/postgresql:/bin/bash"),
        ("group", f"postgres:x:{POSTGRES_UID}:"),
    ):
        entries = Path("/etc", name).read_text().splitlines()
        taken = any(e.split(":")[2:3] == [str(POSTGRES_UID)] for e in entries)
        target = folder / name
        target.write_text("\n".join(entries if taken else [*entries, line]) + "\n")
        target.chmod(0o644)
        files.append(target)
    return files[0], files[1]
