"""Turn the `PODLAB_*` environment of a user server into the files standard clients read.

Runs on every server start: in the single-user images (copied there as a standalone script) and
from the local spawner (the very same code), so it uses the standard library only. Clients that
read environment variables (boto3, the AWS CLI, MLflow) need nothing here; Spark, the Trino or
Presto CLI and git read files in the home directory, which persists across restarts and which
the user may edit. Hence every file is written as a *managed block* between markers:

    # >>> podlab managed >>> sha256=<hash of the block body>
    ...
    # <<< podlab managed <<<

The block is replaced on each start (config changes reach the user) and lines outside it are
never touched. A file without the markers belongs to the user and is left alone; a block whose
body no longer matches its recorded hash was edited by hand and is left alone too. Deleting
the block (or the file) asks for it to be regenerated on the next start.

Usage: `python -m podlab.startup` or `python startup.py` (the image's copy), optionally with
`--home DIR`; exit status 1 when a file could not be written (the server still starts).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

BEGIN = "# >>> podlab managed >>>"
END = "# <<< podlab managed <<<"
NOTE = "# Written by podlab at server start; edit outside this block (later lines win)."
SPARK_CONF_SUBDIR = ".podlab/spark"
"""Relative to the home directory: where spark-defaults.conf goes unless SPARK_CONF_DIR says
otherwise (the spawners set it to this; podlab.integrations imports it from here, the
standalone copy in the images cannot import podlab)."""
KUBERNETES_API = "https://kubernetes.default.svc"
"""The API server as seen from a pod: Spark on Kubernetes' master unless the config names one."""
SPARK_DRIVER_PORT = 29413
"""Fixed driver ports on Kubernetes, so executor -> driver traffic can be named in policies."""
SPARK_BLOCK_MANAGER_PORT = 29414

WRITTEN, UPDATED, UNCHANGED, KEPT, SKIPPED, FAILED = (
    "written",
    "updated",
    "unchanged",
    "kept-user-edit",
    "skipped",
    "failed",
)


@dataclass(frozen=True)
class Outcome:
    name: str
    path: Path | None
    status: str
    detail: str = ""

    def line(self) -> str:
        where = f" {self.path}" if self.path else ""
        detail = f" ({self.detail})" if self.detail else ""
        return f"podlab-startup: {self.name}: {self.status}{where}{detail}"


# -- managed blocks -------------------------------------------------------------------------------
def _digest(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def render_block(body_lines: list[str]) -> str:
    body = "\n".join([NOTE, *body_lines]) + "\n"
    return f"{BEGIN} sha256={_digest(body)}\n{body}{END}\n"


def _find_block(text: str) -> tuple[int, int, str, str] | None:
    """(start, end, recorded hash, body) of the managed block in `text`, or None."""
    start = text.find(BEGIN)
    if start < 0 or (start > 0 and text[start - 1] != "\n"):
        return None
    header_end = text.find("\n", start)
    end = text.find(END, header_end)
    if header_end < 0 or end < 0:
        return None
    after = text.find("\n", end)
    stop = len(text) if after < 0 else after + 1
    header = text[start:header_end]
    recorded = header.partition("sha256=")[2].strip()
    return start, stop, recorded, text[header_end + 1 : end]


def apply_block(path: Path, body_lines: list[str]) -> tuple[str, str]:
    """Write or refresh the managed block of `path`; returns (status, detail)."""
    block = render_block(body_lines)
    try:
        current = path.read_text()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, block)
        return WRITTEN, ""
    found = _find_block(current)
    if found is None:
        return KEPT, "no podlab block: the file is yours; delete it to get podlab's version"
    start, stop, recorded, body = found
    if _digest(body) != recorded:
        return KEPT, "the podlab block was edited by hand; delete the block to regenerate it"
    if current[start:stop] == block:
        return UNCHANGED, ""
    _atomic_write(path, current[:start] + block + current[stop:])
    return UPDATED, ""


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.podlab-tmp")
    tmp.write_text(text)
    if path.exists():
        os.chmod(tmp, path.stat().st_mode & 0o7777)
    os.replace(tmp, path)


# -- the files ------------------------------------------------------------------------------------
def spark_lines(env: Mapping[str, str]) -> tuple[list[str] | None, str]:
    """spark-defaults.conf lines for PODLAB_SPARK_MODE, or (None, why not)."""
    mode = env.get("PODLAB_SPARK_MODE", "")
    url = env.get("PODLAB_SPARK_URL", "")
    if not mode:
        return None, "no Spark integration configured"
    lines = [f"# mode: {mode}"]
    if mode == "standalone":
        if not url:
            return None, "PODLAB_SPARK_URL is empty"
        lines.append(f"spark.master {url}")
        if env.get("POD_IP"):
            lines.append(f"spark.driver.host {env['POD_IP']}")
    elif mode == "kubernetes":
        pod_ip = env.get("POD_IP", "")
        lines += [
            f"spark.master {url or 'k8s://' + KUBERNETES_API}",
            "spark.submit.deployMode client",
            f"spark.kubernetes.namespace {env.get('PODLAB_SPARK_NAMESPACE', 'default')}",
            "spark.kubernetes.authenticate.driver.serviceAccountName "
            + env.get("PODLAB_SPARK_SERVICE_ACCOUNT", "default"),
            "spark.kubernetes.authenticate.executor.serviceAccountName "
            + env.get("PODLAB_SPARK_SERVICE_ACCOUNT", "default"),
            f"spark.executor.instances {env.get('PODLAB_SPARK_EXECUTOR_INSTANCES', '2')}",
            f"spark.driver.port {SPARK_DRIVER_PORT}",
            f"spark.blockManager.port {SPARK_BLOCK_MANAGER_PORT}",
            "spark.driver.bindAddress 0.0.0.0",
        ]
        if env.get("PODLAB_SPARK_EXECUTOR_IMAGE"):
            lines.append(f"spark.kubernetes.container.image {env['PODLAB_SPARK_EXECUTOR_IMAGE']}")
        if pod_ip:
            lines.append(f"spark.driver.host {pod_ip}")
        else:
            lines.append("# POD_IP is not set: executors may not reach the driver")
        if env.get("HOSTNAME"):
            # Executors get an owner reference to the user pod: they go when it goes.
            lines.append(f"spark.kubernetes.driver.pod.name {env['HOSTNAME']}")
    elif mode == "connect":
        remote = env.get("SPARK_REMOTE") or url
        lines += [
            "# Spark Connect: pyspark reads SPARK_REMOTE from the environment",
            f"# SPARK_REMOTE={remote}",
            f"spark.remote {remote}",
        ]
    else:
        return None, f"unknown PODLAB_SPARK_MODE {mode!r}"
    return lines, ""


def sql_lines(env: Mapping[str, str]) -> tuple[str, list[str]] | None:
    """(file name, lines) of the Trino/Presto CLI config, or None without an SQL integration."""
    engine = env.get("PODLAB_SQL_ENGINE", "")
    if engine not in ("trino", "presto"):
        return None
    prefix = engine.upper()
    scheme = env.get(f"{prefix}_HTTP_SCHEME", "http")
    lines = [
        f"server={scheme}://{env.get(f'{prefix}_HOST', 'localhost')}:"
        f"{env.get(f'{prefix}_PORT', '8080')}",
        f"user={env.get(f'{prefix}_USER') or env.get('PODLAB_USER', '')}",
    ]
    for key in ("CATALOG", "SCHEMA"):
        if env.get(f"{prefix}_{key}"):
            lines.append(f"{key.lower()}={env[f'{prefix}_{key}']}")
    if env.get("PODLAB_SQL_AUTH") == "basic":
        lines.append("password=true")
    return f".{engine}_config", lines


def git_lines(env: Mapping[str, str]) -> list[str] | None:
    name, email = env.get("PODLAB_GIT_NAME"), env.get("PODLAB_GIT_EMAIL")
    if not name or not email:
        return None
    return ["[user]", f"\tname = {name}", f"\temail = {email}"]


def run(env: Mapping[str, str], home: Path) -> list[Outcome]:
    """Write every file this environment asks for; one Outcome per file, errors included."""
    outcomes: list[Outcome] = []

    def do(name: str, path: Path, make: Callable[[], list[str]]) -> None:
        try:
            status, detail = apply_block(path, make())
        except OSError as err:
            status, detail = FAILED, f"{err.strerror or err}"
        outcomes.append(Outcome(name, path, status, detail))

    spark, why = spark_lines(env)
    if spark is None:
        outcomes.append(Outcome("spark-defaults.conf", None, SKIPPED, why))
    else:
        conf_dir = Path(env.get("SPARK_CONF_DIR") or home / SPARK_CONF_SUBDIR)
        do("spark-defaults.conf", conf_dir / "spark-defaults.conf", lambda: spark)
    sql = sql_lines(env)
    if sql is None:
        outcomes.append(Outcome("sql cli config", None, SKIPPED, "no SQL integration"))
    else:
        filename, lines = sql
        do(filename, home / filename, lambda: lines)
    git = git_lines(env)
    if git is None:
        outcomes.append(Outcome(".gitconfig", None, SKIPPED, "git identity is off"))
    else:
        do(".gitconfig", home / ".gitconfig", lambda: git)
    return outcomes


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="podlab-startup", description="Write podlab's client config into the home dir."
    )
    parser.add_argument("--home", help="home directory (default: $HOME)")
    args = parser.parse_args(argv)
    env = os.environ if env is None else env
    home = Path(args.home or env.get("HOME") or Path.home())
    outcomes = run(env, home)
    for outcome in outcomes:
        print(outcome.line(), file=sys.stderr)
    return 1 if any(o.status == FAILED for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
