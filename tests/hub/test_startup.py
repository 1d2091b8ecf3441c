"""podlab.startup: the files standard clients read, per integration mode, idempotent, and never
overwriting what the user wrote. The environment comes from the real `integration_env`, so these
tests also pin the contract between the spawners and the startup script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from podlab import startup
from podlab.config import parse_config
from podlab.integrations import integration_env

REPO = Path(__file__).resolve().parents[2]
PROFILES = [
    {
        "slug": "cpu",
        "display_name": "CPU",
        "cpu": {"guarantee": 1, "limit": 2},
        "memory": {"guarantee": "1Gi", "limit": "2Gi"},
    }
]


def env_for(home: Path, integrations: dict[str, Any], **extra: str) -> dict[str, str]:
    config = parse_config({"profiles": PROFILES, "integrations": integrations})
    env = integration_env(
        config,
        config.profile("cpu"),
        username="alice",
        namespace="podlab-alice",
        home=str(home),
        api_token="tok",
        service_account="podlab-user",
    )
    env.update(HOME=str(home), **extra)
    return env


def run(env: dict[str, str], home: Path) -> dict[str, str]:
    return {o.name: o.status for o in startup.run(env, home)}


def conf(path: Path) -> dict[str, str]:
    """spark-defaults.conf as Spark reads it: key value, later lines win, # comments."""
    out = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition(" ")
            out[key] = value.strip()
    return out


def test_standalone_mode_writes_spark_master(tmp_path):
    env = env_for(tmp_path, {"spark": {"mode": "standalone", "url": "spark://m:7077"}})
    assert run(env, tmp_path)["spark-defaults.conf"] == "written"
    path = tmp_path / ".podlab/spark/spark-defaults.conf"
    assert Path(env["SPARK_CONF_DIR"]) == path.parent
    assert conf(path) == {"spark.master": "spark://m:7077"}


def test_kubernetes_mode_runs_executors_in_the_users_namespace(tmp_path):
    env = env_for(
        tmp_path,
        {"spark": {"mode": "kubernetes", "executor_image": "exec:1", "executor_instances": 3}},
        POD_IP="10.1.2.3",
        HOSTNAME="jupyter-alice",
    )
    run(env, tmp_path)
    got = conf(tmp_path / ".podlab/spark/spark-defaults.conf")
    assert got["spark.master"] == "k8s://https://kubernetes.default.svc"
    assert got["spark.submit.deployMode"] == "client"
    assert got["spark.kubernetes.namespace"] == "podlab-alice"
    assert got["spark.kubernetes.authenticate.driver.serviceAccountName"] == "podlab-user"
    assert got["spark.kubernetes.authenticate.executor.serviceAccountName"] == "podlab-user"
    assert got["spark.driver.host"] == "10.1.2.3"
    assert got["spark.kubernetes.container.image"] == "exec:1"
    assert got["spark.executor.instances"] == "3"
    assert got["spark.kubernetes.driver.pod.name"] == "jupyter-alice"


def test_kubernetes_mode_without_pod_ip_says_so(tmp_path):
    env = env_for(tmp_path, {"spark": {"mode": "kubernetes"}})
    run(env, tmp_path)
    text = (tmp_path / ".podlab/spark/spark-defaults.conf").read_text()
    assert "spark.driver.host" not in text
    assert "POD_IP is not set" in text


def test_connect_mode_uses_spark_remote_and_notes_it(tmp_path):
    env = env_for(tmp_path, {"spark": {"mode": "connect", "url": "sc://connect:15002"}})
    assert env["SPARK_REMOTE"] == "sc://connect:15002"
    run(env, tmp_path)
    path = tmp_path / ".podlab/spark/spark-defaults.conf"
    assert "SPARK_REMOTE=sc://connect:15002" in path.read_text()
    assert conf(path) == {"spark.remote": "sc://connect:15002"}


@pytest.mark.parametrize("engine", ["trino", "presto"])
def test_sql_cli_config_and_environment(tmp_path, engine):
    env = env_for(
        tmp_path,
        {
            "sql": {
                "engine": engine,
                "host": "sql.internal",
                "port": 8443,
                "catalog": "hive",
                "schema": "ml",
                "http_scheme": "https",
                "auth": "basic",
            }
        },
    )
    prefix = engine.upper()
    assert env[f"{prefix}_HOST"] == "sql.internal"
    assert env[f"{prefix}_USER"] == "alice"
    assert run(env, tmp_path)[f".{engine}_config"] == "written"
    lines = (tmp_path / f".{engine}_config").read_text().splitlines()
    assert "server=https://sql.internal:8443" in lines
    assert {"user=alice", "catalog=hive", "schema=ml", "password=true"} <= set(lines)


def test_gitconfig_identity_from_the_hub_user(tmp_path):
    env = env_for(tmp_path, {"git": {"email_domain": "example.com"}})
    run(env, tmp_path)
    out = subprocess.run(
        ["git", "config", "--file", str(tmp_path / ".gitconfig"), "--list"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert "user.name=alice" in out
    assert "user.email=alice@example.com" in out


def test_nothing_for_s3_or_mlflow_and_skips_are_logged(tmp_path):
    env = env_for(
        tmp_path,
        {
            "s3": {"region": "eu-west-1", "shared_bucket": "ml-shared"},
            "mlflow": {"url": "http://mlflow:5000"},
            "git": {"enabled": False},
        },
    )
    assert env["MLFLOW_TRACKING_TOKEN"] == "tok"
    assert env["AWS_REGION"] == "eu-west-1"
    assert not any(k.startswith("AWS_ACCESS_KEY") or k == "AWS_SECRET_ACCESS_KEY" for k in env)
    statuses = run(env, tmp_path)
    assert set(statuses.values()) == {"skipped"}
    assert list(tmp_path.iterdir()) == []


def test_idempotent_and_updates_only_its_block(tmp_path):
    env = env_for(tmp_path, {"spark": {"mode": "standalone", "url": "spark://m:7077"}})
    path = tmp_path / ".podlab/spark/spark-defaults.conf"
    run(env, tmp_path)
    path.write_text(path.read_text() + "spark.executor.memory 3g\n")
    assert run(env, tmp_path)["spark-defaults.conf"] == "unchanged"
    env["PODLAB_SPARK_URL"] = "spark://other:7077"  # config changed by the admin
    assert run(env, tmp_path)["spark-defaults.conf"] == "updated"
    assert conf(path) == {"spark.master": "spark://other:7077", "spark.executor.memory": "3g"}
    assert path.read_text().count(startup.BEGIN) == 1


def test_a_file_the_user_owns_or_a_hand_edited_block_is_kept(tmp_path):
    env = env_for(tmp_path, {})
    gitconfig = tmp_path / ".gitconfig"
    gitconfig.write_text("[user]\n\tname = Alice Real\n")
    assert run(env, tmp_path)[".gitconfig"] == "kept-user-edit"
    assert gitconfig.read_text() == "[user]\n\tname = Alice Real\n"

    gitconfig.unlink()
    run(env, tmp_path)
    edited = gitconfig.read_text().replace("name = alice", "name = Alice Edited")
    gitconfig.write_text(edited)
    assert run(env, tmp_path)[".gitconfig"] == "kept-user-edit"
    assert gitconfig.read_text() == edited


def test_runs_as_module_and_as_standalone_script_with_one_log_line_per_file(tmp_path):
    env = env_for(tmp_path, {"spark": {"mode": "standalone", "url": "spark://m:7077"}})
    env["PATH"] = "/usr/bin:/bin"
    script = REPO / "hub/src/podlab/startup.py"
    copy = tmp_path / "elsewhere" / "podlab-startup.py"  # as the images copy it
    copy.parent.mkdir()
    copy.write_text(script.read_text())
    first = subprocess.run(
        [sys.executable, "-m", "podlab.startup"], env=env, capture_output=True, text=True
    )
    second = subprocess.run(
        [sys.executable, "-I", str(copy)], env=env, capture_output=True, text=True
    )
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert first.stderr.splitlines() == [
        f"podlab-startup: spark-defaults.conf: written {env['SPARK_CONF_DIR']}/spark-defaults.conf",
        "podlab-startup: sql cli config: skipped (no SQL integration)",
        f"podlab-startup: .gitconfig: written {tmp_path}/.gitconfig",
    ]
    assert "spark-defaults.conf: unchanged" in second.stderr
    assert ".gitconfig: unchanged" in second.stderr


def test_an_unwritable_file_is_reported_and_the_rest_still_written(tmp_path):
    env = env_for(tmp_path, {"spark": {"mode": "standalone", "url": "spark://m:7077"}})
    env["SPARK_CONF_DIR"] = "/proc/podlab-cannot-exist"
    outcomes = {o.name: o for o in startup.run(env, tmp_path)}
    assert outcomes["spark-defaults.conf"].status == "failed"
    assert outcomes[".gitconfig"].status == "written"
    assert startup.main(["--home", str(tmp_path)], env) == 1
