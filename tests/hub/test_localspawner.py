"""PodlabLocalSpawner through a real JupyterHub and configurable-http-proxy.

One hub serves every test here (spawns are the expensive part): it runs the local spawner on
a podlab config whose integrations point at real components from the shared fixtures (Spark
standalone, the S3 server, podlab's MLflow server registered as the hub service `mlflow`).
Everything a test checks is read from a real kernel in the spawned server.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from podlab.localspawner import PodlabLocalSpawner
from podlab.localstack.jupyterhub import JupyterHubServer
from podlab.localstack.process import free_port
from podlab.profiles import ProfileChoiceError
from tests.hub.local_helpers import (
    CPU,
    GPU,
    Kernel,
    spawn,
    spawner_config,
    stop,
    write_config,
)
from tests.support.podlab_mlflow import PodlabMlflowServer, hub_service_config

BUCKET = "podlab-local-shared"


@pytest.fixture(scope="module")
def local(make_jupyterhub, work_root, component_log_dir, spark_cluster, s3_server, postgres):
    base = work_root / "localspawner"
    mlflow_port, mlflow_token = free_port(), secrets.token_hex(32)
    config_path = write_config(
        base / "podlab.yaml",
        [CPU, GPU],
        integrations={
            "mlflow": {"url": f"http://127.0.0.1:{mlflow_port}"},
            "s3": {
                "region": "us-east-1",
                "shared_bucket": BUCKET,
                "endpoint_url": s3_server.endpoint_url,
            },
            "spark": {"mode": "standalone", "url": spark_cluster.master_url},
            "git": {"email_domain": "example.org"},
        },
    )
    s3_server.create_bucket(BUCKET)
    env = dict(os.environ)
    env.update(s3_server.env)  # a developer's own credentials; podlab adds no keys
    env.pop("MLFLOW_S3_ENDPOINT_URL", None)
    env["PODLAB_FAKE_GPUS"] = "1"
    hub = make_jupyterhub(
        "localspawner",
        env=env,
        extra_config=spawner_config(config_path, base / "data")
        + hub_service_config(mlflow_port, mlflow_token),
    )
    mlflow = PodlabMlflowServer(
        hub=hub,
        database_url=postgres.create_database("mlflow_localspawner"),
        s3=s3_server,
        bucket="podlab-local-mlflow",
        log_dir=component_log_dir,
        port=mlflow_port,
        service_token=mlflow_token,
    )
    mlflow.migrate()
    mlflow.start()
    yield SimpleNamespace(hub=hub, data=base / "data", config=config_path, mlflow=mlflow)
    mlflow.stop()


@pytest.fixture(scope="module")
def alice(local):
    """alice on the default (CPU) profile, with a kernel; stopped at the end of the module."""
    spawn(local.hub, "alice", {"profile": "cpu-small"})
    token, _ = local.hub.user_token("alice")
    kernel = Kernel(local.hub, "alice", token)
    yield kernel
    kernel.close()
    stop(local.hub, "alice")


def test_cpu_profile_gets_the_integration_environment_and_files(local, alice, s3_server):
    env = alice.env()
    home = local.data / "homes" / "alice"
    assert env["HOME"] == str(home)
    assert env["PODLAB_PROFILE"] == "cpu-small"
    assert env["PODLAB_NAMESPACE"] == "podlab-alice"
    assert env["MLFLOW_TRACKING_URI"] == local.mlflow.url
    assert env["MLFLOW_TRACKING_TOKEN"] == env["JUPYTERHUB_API_TOKEN"]
    assert env["AWS_ENDPOINT_URL_S3"] == s3_server.endpoint_url
    assert env["PODLAB_S3_SHARED_BUCKET"] == BUCKET
    assert env["CUDA_VISIBLE_DEVICES"] == ""
    assert env["MEM_LIMIT"] == str(2 * 2**30)
    assert env["SPARK_CONF_DIR"] == f"{home}/.podlab/spark"
    assert env["PODLAB_ENVLOGGER"] == "on"
    conf = (home / ".podlab/spark/spark-defaults.conf").read_text()
    assert "spark.master spark://" in conf
    identity = alice.run(
        "import subprocess; print(subprocess.run(['git', 'config', 'user.email'],"
        " capture_output=True, text=True).stdout)"
    )
    assert identity.strip() == "alice@example.org"
    cgroup = alice.run("print(open('/proc/self/cgroup').read())")
    if re.search(r"/podlab-[0-9a-f]{8}-alice$", cgroup, re.M):  # the hub made a cgroup: enforced
        limit = alice.run(
            "import re; p = re.search(r':memory:(\\S+)', open('/proc/self/cgroup').read())[1];"
            "print(open('/sys/fs/cgroup/memory' + p + '/memory.limit_in_bytes').read())"
        )
        assert int(limit) == 2 * 2**30
    else:
        assert "advisory only" in local.hub.log_path.read_text()


def test_spark_session_runs_a_job_with_no_setup(alice, spark_cluster):
    out = alice.run(
        textwrap.dedent(
            """
            from pyspark.sql import SparkSession
            spark = SparkSession.builder.getOrCreate()
            print(spark.sparkContext.master)
            print(spark.range(1000).selectExpr("sum(id) AS s").collect()[0].s)
            spark.stop()
            """
        ),
        timeout=180,
    )
    assert out.split() == [spark_cluster.master_url, "499500"]


def test_boto3_without_arguments_reaches_the_shared_bucket(alice, s3_server):
    s3_server.client().put_object(Bucket=BUCKET, Key="shared/hello.txt", Body=b"hi from s3")
    out = alice.run(
        "import boto3, os\n"
        "s3 = boto3.client('s3')\n"
        "print(s3.get_object(Bucket=os.environ['PODLAB_S3_SHARED_BUCKET'],"
        " Key='shared/hello.txt')['Body'].read().decode())"
    )
    assert out.strip() == "hi from s3"


def test_mlflow_start_run_logs_a_run_owned_by_the_user(alice):
    out = alice.run(
        "import mlflow\n"
        "with mlflow.start_run() as run:\n"
        "    mlflow.log_param('p', 1)\n"
        "print('RESULT', run.info.run_id, mlflow.get_run(run.info.run_id).info.user_id)"
    )
    _, run_id, owner = next(line for line in out.splitlines() if line.startswith("RESULT")).split()
    assert re.fullmatch(r"[0-9a-f]{32}", run_id)
    assert owner == "alice"  # recorded by the server from the hub token, not the OS user


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"profile": "gpu-9"}, "unknown profile 'gpu-9'; choose one of: cpu-small, gpu-1"),
        (
            {"profile": "cpu-small", "image": "evil:latest"},
            "unexpected spawn option(s) 'image': podlab accepts only 'profile'",
        ),
        ({"profile": ["cpu-small"]}, "profile must be a profile slug"),
    ],
)
def test_api_spawn_with_bad_options_is_refused_and_creates_nothing(local, options, message):
    local.hub.create_user("mallory")
    status, body = local.hub.api("POST", "/users/mallory/server", body=options)
    assert status == 400
    assert message in body["message"]
    _, model = local.hub.api("GET", "/users/mallory")
    assert "" not in model["servers"]
    assert not (local.data / "homes" / "mallory").exists()


def login(hub: JupyterHubServer, user: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{hub.url}/hub/login", timeout=30)
    reply = session.post(
        f"{hub.url}/hub/login",
        data={"username": user, "password": hub.password, "_xsrf": session.cookies["_xsrf"]},
        timeout=30,
    )
    assert reply.ok, reply.text
    return session


def test_options_form_lists_profiles_and_a_tampered_form_is_refused(local):
    session = login(local.hub, "trudy")
    form = session.get(f"{local.hub.url}/hub/spawn", timeout=30)
    assert form.status_code == 200
    assert 'value="cpu-small" checked' in form.text
    assert 'value="gpu-1"' in form.text
    assert "2 cores, 2 GiB: notebooks and light Spark" in form.text
    xsrf = session.cookies["_xsrf"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"profile": "root-shell"}, "unknown profile &#39;root-shell&#39;"),
        ({"profile": ["cpu-small", "gpu-1"]}, "the spawn form must name exactly one profile"),
        (
            {"profile": "cpu-small", "cmd": "bash"},
            "unexpected field(s) in the spawn form: &#39;cmd&#39;",
        ),
    ]
    for data, message in cases:
        reply = session.post(f"{local.hub.url}/hub/spawn", data={**data, "_xsrf": xsrf}, timeout=30)
        assert reply.status_code == 400, reply.text
        assert message in reply.text
    _, model = local.hub.api("GET", "/users/trudy")
    assert "" not in model["servers"]
    assert not (local.data / "homes" / "trudy").exists()


def test_restart_on_the_gpu_profile_keeps_the_home(local, alice):
    """Runs after alice's other tests (module order): stop, restart with another profile."""
    alice.run("open('notes.txt', 'w').write('keep me')")
    # A job left running in the background, in a session of its own: on Kubernetes it ends
    # with the pod; locally the per-user cgroup gives the same (when the hub could create one).
    leftover = int(
        alice.run(
            "import subprocess; print(subprocess.Popen(['sleep', '600'],"
            " start_new_session=True).pid)"
        )
    )
    enforced = "podlab-" in Path(f"/proc/{leftover}/cgroup").read_text()
    alice.close()
    stop(local.hub, "alice")
    if enforced:
        assert not alive(leftover), "stopping the server must end all of its processes"
    elif alive(leftover):
        os.kill(leftover, signal.SIGKILL)  # advisory mode: nothing ends it for us
    spawn(local.hub, "alice", {"profile": "gpu-1"})
    token, _ = local.hub.user_token("alice")
    kernel = Kernel(local.hub, "alice", token)
    env = kernel.env()
    assert (env["PODLAB_PROFILE"], env["PODLAB_GPU_COUNT"]) == ("gpu-1", "1")
    assert env["CUDA_VISIBLE_DEVICES"] == "0"
    assert env["MEM_LIMIT"] == str(3 * 2**30)
    assert kernel.run("print(open('notes.txt').read())").strip() == "keep me"
    kernel.close()


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


# -- without GPUs: no hub needed to see the form and the refusal --------------------------------
def make_spawner(config_path: Path, data_dir: Path) -> PodlabLocalSpawner:
    user = SimpleNamespace(name="carol", url="/user/carol/", escaped_name="carol")
    return PodlabLocalSpawner(user=user, config_path=str(config_path), data_dir=str(data_dir))


def test_gpu_profile_is_shown_disabled_with_the_reason_when_there_are_no_gpus(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("PODLAB_FAKE_GPUS", "0")
    spawner = make_spawner(write_config(tmp_path / "p.yaml", [CPU, GPU]), tmp_path)
    form = spawner.render_options_form()
    assert re.search(r'value="gpu-1"\s*disabled', form)
    assert "Unavailable: needs 1 GPU; this machine has 0 (PODLAB_FAKE_GPUS=0)" in form
    assert [p.slug for p in spawner.offered_profiles()] == ["cpu-small"]
    with pytest.raises(
        ProfileChoiceError, match="profile 'gpu-1' is not available here: needs 1 GPU"
    ):
        spawner.profile_for({"profile": "gpu-1"})
    assert spawner.profile_for({}).slug == "cpu-small"


def test_default_gpu_profile_without_gpus_is_refused_not_silently_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("PODLAB_FAKE_GPUS", "0")
    gpu_default = {**GPU, "default": True}
    cpu = {**CPU, "default": False}
    spawner = make_spawner(write_config(tmp_path / "p.yaml", [cpu, gpu_default]), tmp_path)
    with pytest.raises(ProfileChoiceError, match="choose one of: cpu-small"):
        spawner.profile_for({})
    assert 'value="cpu-small" checked' in spawner.render_options_form()


def test_missing_config_says_how_to_set_it(tmp_path, monkeypatch):
    monkeypatch.delenv("PODLAB_CONFIG", raising=False)
    spawner = make_spawner(Path(), tmp_path)
    spawner.config_path = ""
    with pytest.raises(ValueError, match=r"set PodlabLocalSpawner\.config_path or PODLAB_CONFIG"):
        spawner.render_options_form()


def test_form_data_becomes_the_profile_option_and_nothing_else(tmp_path, monkeypatch):
    monkeypatch.setenv("PODLAB_FAKE_GPUS", "1")
    spawner = make_spawner(write_config(tmp_path / "p.yaml", [CPU, GPU]), tmp_path)
    form = {"profile": ["gpu-1"], "_xsrf": ["token-checked-by-the-hub"]}
    assert spawner.run_options_from_form(form) == {"profile": "gpu-1"}
    assert spawner.run_options_from_form({}) == {"profile": "cpu-small"}  # the default
    spawner._apply_profile_options({"profile": "gpu-1"})
    assert spawner.mem_limit == 3 * 2**30
    assert spawner.cpu_limit == 2
    assert not (tmp_path / "homes").exists()  # validation creates nothing
