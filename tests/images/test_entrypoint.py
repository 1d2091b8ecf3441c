"""podlab-entrypoint.sh, the single-user images' ENTRYPOINT (under tini): it runs the CMD as
given, and `executor` starts a Spark executor, because Spark on Kubernetes starts executor pods
from the profile's image with that one argument. Run here with a stand-in `java` that records
its command line; the command is checked against the Spark the images lock (the jar of that
pyspark version: the executor class, its options and the environment names the driver sets)."""

from __future__ import annotations

import json
import re
import sys
import zipfile
from pathlib import Path
from subprocess import CompletedProcess, run

import pytest

from tests.images.dockerfiles import ENTRYPOINT_SCRIPT, image, pins

EXECUTOR_CLASS = "org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend"
RECORDER = """#!/bin/sh
python3 - "$0" "$@" <<'PY'
import json, os, sys
with open(os.environ["RECORD"], "w") as out:
    json.dump({"argv": sys.argv[1:], "cwd": os.getcwd()}, out)
PY
"""
EXECUTOR_ENV = {
    "SPARK_DRIVER_URL": "spark://CoarseGrainedScheduler@10.0.0.5:29413",
    "SPARK_EXECUTOR_ID": "3",
    "SPARK_EXECUTOR_CORES": "2",
    "SPARK_APPLICATION_ID": "spark-application-1",
    "SPARK_EXECUTOR_POD_IP": "10.0.1.7",
    "SPARK_RESOURCE_PROFILE_ID": "0",
    "SPARK_EXECUTOR_POD_NAME": "alice-exec-3",
    "SPARK_EXECUTOR_MEMORY": "4g",
    "SPARK_JAVA_OPT_0": "-Dspark.driver.port=29413",
    "SPARK_JAVA_OPT_1": "-Dspark.app.name=demo",
    "SPARK_JAVA_OPT_10": "-Dspark.tenth=true",
    "SPARK_JAVA_OPT_2": "-Dspark.with space=a b",
}


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "bin"
    directory.mkdir()
    for name in ("java", "recorded-cmd"):
        (directory / name).write_text(RECORDER)
        (directory / name).chmod(0o755)
    # The dev environment's Python has pyspark, as the image's venv (a wrapper, not a
    # symlink: a venv is found from the path the interpreter was started by).
    (directory / "python3").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (directory / "python3").chmod(0o755)
    return directory


def _run(bin_dir: Path, tmp_path: Path, *args: str, **env: str) -> CompletedProcess[str]:
    full = {"PATH": f"{bin_dir}:/usr/bin:/bin", "RECORD": str(tmp_path / "record.json"), **env}
    return run(
        [str(ENTRYPOINT_SCRIPT), *args],
        env=full,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _recorded(tmp_path: Path) -> list[str]:
    data = json.loads((tmp_path / "record.json").read_text())
    argv = data["argv"]
    assert isinstance(argv, list)
    return [str(a) for a in argv]


def test_runs_the_command_it_is_given(bin_dir: Path, tmp_path: Path):
    proc = _run(bin_dir, tmp_path, "recorded-cmd", "--a", "b c")
    assert proc.returncode == 0, proc.stderr
    assert _recorded(tmp_path)[1:] == ["--a", "b c"]
    nothing = _run(bin_dir, tmp_path)
    assert nothing.returncode == 2
    assert "nothing to run" in nothing.stderr


def test_executor_runs_the_kubernetes_executor_backend(bin_dir: Path, tmp_path: Path):
    import pyspark

    proc = _run(bin_dir, tmp_path, "executor", **EXECUTOR_ENV)
    assert proc.returncode == 0, proc.stderr
    argv = _recorded(tmp_path)
    assert Path(argv[0]).name == "java"
    # JVM options in the driver's order (by number, not as text), with spaces kept.
    assert argv[1:5] == [
        "-Dspark.driver.port=29413",
        "-Dspark.app.name=demo",
        "-Dspark.with space=a b",
        "-Dspark.tenth=true",
    ]
    assert argv[5:7] == ["-Xms4g", "-Xmx4g"]
    classpath = argv[argv.index("-cp") + 1].split(":")
    assert f"{Path(pyspark.__file__).parent}/jars/*" in classpath
    assert argv[argv.index("-cp") + 2] == EXECUTOR_CLASS
    options = dict(zip(argv[-14::2], argv[-13::2], strict=True))
    assert options == {
        "--driver-url": EXECUTOR_ENV["SPARK_DRIVER_URL"],
        "--executor-id": "3",
        "--cores": "2",
        "--app-id": "spark-application-1",
        "--hostname": "10.0.1.7",
        "--resourceProfileId": "0",
        "--podName": "alice-exec-3",
    }


def test_executor_outside_spark_says_what_is_missing(bin_dir: Path, tmp_path: Path):
    env = {k: v for k, v in EXECUTOR_ENV.items() if k != "SPARK_DRIVER_URL"}
    proc = _run(bin_dir, tmp_path, "executor", **env)
    assert proc.returncode == 2
    assert "SPARK_DRIVER_URL not set" in proc.stderr
    assert not (tmp_path / "record.json").exists()


def test_the_locked_spark_speaks_this_protocol():
    """The images' pyspark jar has the class, the options and the environment names used."""
    import pyspark

    locked = pins(image("singleuser").lock.path)["pyspark"].version
    assert pyspark.__version__ == locked, "the dev environment's pyspark is the images' one"
    (jar,) = (Path(pyspark.__file__).parent / "jars").glob("spark-kubernetes_*.jar")
    with zipfile.ZipFile(jar) as archive:
        backend = b"".join(
            archive.read(n)
            for n in archive.namelist()
            if n.startswith(EXECUTOR_CLASS.replace(".", "/"))
        )
        constants = archive.read("org/apache/spark/deploy/k8s/Constants$.class")
    assert backend, f"{EXECUTOR_CLASS} is not in {jar.name}"
    script = ENTRYPOINT_SCRIPT.read_text()
    options = set(re.findall(r"(--[A-Za-z-]+) \"\$SPARK_", script))
    names = set(re.findall(r"\$\{?(SPARK_[A-Z_]+?)\}?\"", script)) - {"SPARK_HOME"}
    assert len(options) == 7, options
    assert len(names) >= 8, names
    for option in options:
        assert option.encode() in backend, f"{EXECUTOR_CLASS} has no option {option}"
    for name in names:
        if name in ("SPARK_CLASSPATH", "SPARK_EXTRA_CLASSPATH", "SPARK_DIST_CLASSPATH"):
            continue  # set by users or images, not by the driver
        assert name.encode() in constants, f"Spark sets no {name} on executor pods"
