"""The Dockerfiles, checked as files (no container engine exists here): hadolint and checkov
clean, non-root users, health checks that agree with the chart's probes, pinned bases, a build
context that holds what each COPY needs, and the contracts with the rest of podlab (the uid and
home KubeSpawner is configured with, the hub config path and image tags the chart names)."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from podlab import kubespawner_config
from podlab.images import (
    IMAGE_DOCKERFILES,
    Instruction,
    final_stage,
    image_model,
    image_name,
    instructions,
    stages,
)
from podlab.localstack.paths import REPO_ROOT, SETUP_HINT, tool
from tests.images.dockerfiles import (
    BUILD_SCRIPT,
    CHECKOV_CONFIG,
    DOCKERIGNORE,
    ENTRYPOINT_SCRIPT,
    HADOLINT_CONFIG,
    HEALTHCHECK_SCRIPT,
    IMAGES,
    START_SCRIPT,
    STARTUP_SOURCE,
    Image,
    apt_packages,
    base_images,
    env_of,
    excluded_from_context,
    image,
    last,
    rel,
)

CHART = REPO_ROOT / "charts" / "podlab"
DOCKERFILES = [pytest.param(i, id=i.name) for i in IMAGES]
SINGLEUSER = [pytest.param(image(n), id=n) for n in ("singleuser", "singleuser-gpu")]
SKIP_LINE = re.compile(r"^\s*-\s*(\w+)\s*(?:#\s*(.*))?$")


def _run_tool(name: str, argv: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    executable = tool(name)
    if not Path(executable).exists() and shutil.which(executable) is None:
        pytest.fail(f"{name} not found. What to do: {SETUP_HINT}", pytrace=False)
    return subprocess.run(
        [executable, *argv], capture_output=True, text=True, timeout=timeout, check=False
    )


def _justified_list(path: Path, key: str) -> dict[str, str]:
    """rule id => justification, from `- RULE  # why` lines under `key:` of a YAML config."""
    listed = yaml.safe_load(path.read_text()).get(key) or []
    found: dict[str, str] = {}
    in_key = False
    for line in path.read_text().splitlines():
        if re.match(rf"^{key}:", line):
            in_key = True
            continue
        if in_key and re.match(r"^\S", line):
            in_key = False
        match = SKIP_LINE.match(line) if in_key else None
        if match:
            found[match.group(1)] = (match.group(2) or "").strip()
    assert sorted(listed) == sorted(found), f"{rel(path)}: put every {key} entry on its own line"
    return found


# -- linters -------------------------------------------------------------------------------------
@pytest.mark.parametrize("img", DOCKERFILES)
def test_hadolint_clean(img: Image):
    proc = _run_tool("hadolint", ["--config", str(HADOLINT_CONFIG), str(img.dockerfile)])
    assert proc.returncode == 0, f"hadolint {rel(img.dockerfile)}:\n{proc.stdout}{proc.stderr}"


def test_hadolint_ignores_are_justified():
    ignored = _justified_list(HADOLINT_CONFIG, "ignored")
    unjustified = [rule for rule, reason in ignored.items() if len(reason) < 20]
    assert not unjustified, f"give each ignored rule a one-line justification: {unjustified}"
    config = yaml.safe_load(HADOLINT_CONFIG.read_text())
    assert config.get("failure-threshold") == "info", "every hadolint finding must fail"


def _checkov(*extra: str) -> dict[str, Any]:
    argv = ["--framework", "dockerfile", "-o", "json", "--compact", "--skip-download", *extra]
    for img in IMAGES:
        argv += ["-f", str(img.dockerfile)]
    proc = _run_tool("checkov", argv)
    if proc.returncode not in (0, 1):
        pytest.fail(f"checkov crashed ({proc.returncode}):\n{proc.stderr[-3000:]}", pytrace=False)
    report = json.loads(proc.stdout)
    if isinstance(report, list):
        (report,) = [r for r in report if r.get("check_type") == "dockerfile"]
    assert isinstance(report, dict)
    return report


def _failures(report: dict[str, Any]) -> list[str]:
    return [
        f"{c['check_id']} {c['file_path']}:{c['file_line_range'][0]} {c.get('check_name', '')}"
        for c in report["results"]["failed_checks"]
    ]


def test_checkov_clean_with_the_committed_skip_list():
    skips = _justified_list(CHECKOV_CONFIG, "skip-check")
    unjustified = [check for check, reason in skips.items() if len(reason) < 20]
    assert not unjustified, f"give each skipped check a one-line justification: {unjustified}"
    report = _checkov("--config-file", str(CHECKOV_CONFIG))
    assert report["summary"]["parsing_errors"] == 0, report["summary"]
    assert report["summary"]["resource_count"] == len(IMAGES), report["summary"]
    assert report["summary"]["passed"] > 0, report["summary"]
    assert report["summary"]["failed"] == 0, "\n".join(_failures(report))
    if skips:  # without the list, exactly the skipped checks fail: no stale skip hides a fix
        failing = {c["check_id"] for c in _checkov()["results"]["failed_checks"]}
        assert failing == set(skips), f"skip list {sorted(skips)} != failing {sorted(failing)}"


# -- users, health, bases ------------------------------------------------------------------------
def _chart_uid(component: str) -> int:
    """The runAsUser the chart gives a component's container (runAsGroup is the same)."""
    text = (CHART / "templates" / component / "deployment.yaml").read_text()
    uids = set(re.findall(r'include "podlab.containerSecurityContext" (\d+)', text))
    assert len(uids) == 1, f"expected one container uid in the {component} Deployment: {uids}"
    return int(uids.pop())


EXPECTED_USER = {
    "hub": f"{_chart_uid('hub')}:{_chart_uid('hub')}",
    "mlflow": f"{_chart_uid('mlflow')}:{_chart_uid('mlflow')}",
    "singleuser": f"{kubespawner_config.UID}:{kubespawner_config.GID}",
    "singleuser-gpu": f"{kubespawner_config.UID}:{kubespawner_config.GID}",
}
"""uid:gid each image runs as: what the chart / KubeSpawner run it as, so files the image
owns (a home, the venv) belong to the user that runs, with or without runAsUser."""


@pytest.mark.parametrize("img", DOCKERFILES)
def test_runs_as_the_non_root_user_the_platform_expects(img: Image):
    user = last(final_stage(img.dockerfile), "USER")
    assert user is not None, f"{rel(img.dockerfile)}: the final stage sets no USER"
    uid = user.args.split(":")[0]
    # Numeric, so Kubernetes can verify runAsNonRoot without a runAsUser.
    assert uid.isdigit(), f"{rel(img.dockerfile)}: USER {user.args} is not numeric"
    assert int(uid) != 0, f"{rel(img.dockerfile)}: USER {user.args} is root"
    assert user.args == EXPECTED_USER[img.name]


def _chart_probe(component: str) -> tuple[str, int]:
    """(path, container port) of the httpGet probes of a chart Deployment."""
    text = (CHART / "templates" / component / "deployment.yaml").read_text()
    probes = set(re.findall(r"httpGet:\s*\{path:\s*(\S+?),\s*port:\s*([\w-]+)\}", text))
    assert len(probes) == 1, f"expected one probe URL in the {component} Deployment: {probes}"
    ((path, port_name),) = probes
    port = re.search(rf"\{{name:\s*{port_name},\s*containerPort:\s*(\d+)", text)
    assert port, f"no containerPort named {port_name} in the {component} Deployment"
    return path, int(port.group(1))


@pytest.mark.parametrize(("name", "component"), [("hub", "hub"), ("mlflow", "mlflow")])
def test_service_healthcheck_is_the_charts_probe(name: str, component: str):
    """Docker runs HEALTHCHECK, Kubernetes the chart's probes: both must ask the same URL."""
    stage = final_stage(image(name).dockerfile)
    check = last(stage, "HEALTHCHECK")
    assert check is not None, "no HEALTHCHECK"
    argv = check.exec_form()
    assert argv, "HEALTHCHECK CMD [...] expected"
    path, port = _chart_probe(component)
    assert argv[-1] == f"http://127.0.0.1:{port}{path}"
    expose = last(stage, "EXPOSE")
    assert expose is not None
    assert str(port) in expose.args.split()


@pytest.mark.parametrize("img", SINGLEUSER)
def test_singleuser_healthcheck_is_the_copied_script(img: Image):
    """KubeSpawner sets no probes (the hub polls its servers); HEALTHCHECK serves docker run.
    tests/images/test_activity_extension.py runs the script against a real server."""
    stage = final_stage(img.dockerfile)
    check = last(stage, "HEALTHCHECK")
    assert check is not None
    assert check.exec_form() == ["python3", "/usr/local/lib/podlab/healthcheck.py"]
    assert _copies(stage)["/usr/local/lib/podlab/healthcheck.py"] == rel(HEALTHCHECK_SCRIPT)


EXACT_TAG = re.compile(r"^[\w.\-/]+:(?=[^:]*\d+\.\d+\.\d+)[\w.\-]+(@sha256:[0-9a-f]{64})?$")


@pytest.mark.parametrize("img", DOCKERFILES)
def test_base_images_are_pinned_to_exact_versions(img: Image):
    bases = base_images(img.dockerfile)
    for base in bases:
        assert "$" not in base, f"{base}: no build arguments in FROM (the tag must be readable)"
        assert EXACT_TAG.match(base), f"{base}: pin an exact version tag (x.y.z), never latest"
        assert not base.endswith(":latest")
    # The final stage runs the venv the build stage made: same base, same interpreter path.
    assert len(set(bases)) == 1, f"{rel(img.dockerfile)}: stages on different bases {bases}"


# -- what gets installed, and how ----------------------------------------------------------------
def _copies(stage: list[Instruction]) -> dict[str, str]:
    """destination path => source, for the COPY instructions of a stage from the context."""
    out = {}
    for instruction in stage:
        if instruction.keyword == "COPY":
            flags, words = instruction.flags_and_words()
            if "from" in flags:
                continue
            *sources, destination = words
            for source in sources:
                into_dir = destination.endswith("/") or len(sources) > 1
                out[destination + Path(source).name if into_dir else destination] = source
    return out


@pytest.mark.parametrize("img", DOCKERFILES)
def test_installs_only_from_hashed_locks_or_this_repository(img: Image):
    build = stages(img.dockerfile)[0]
    runs = " && ".join(i.args for i in build if i.keyword == "RUN")
    installs = [c.strip() for c in re.split(r"&&", runs) if "pip install" in c]
    copied = _copies(build)
    locks_used = set()
    for command in installs:
        assert "--no-cache-dir" in command, command
        if "--require-hashes" in command:
            assert "--no-deps" in command, f"a complete lock installs with --no-deps: {command}"
            locks_used.update(re.findall(r"-r (\S+)", command))
        elif "torch-cpu.txt" in command:
            assert img.name == "singleuser", command
            assert "--no-deps" in command, command
        else:  # the repository's own packages, dependencies from the lock
            assert "--no-deps" in command, command
            assert "--no-build-isolation" in command, command
            assert all(p.startswith("/tmp/src/") for p in command.split()[1:] if "/" in p)
    assert "/tmp/locks/build-tools.lock" in locks_used
    lock_dst = {d for d, s in copied.items() if s == rel(img.lock.path)}
    assert locks_used & lock_dst, f"{rel(img.dockerfile)} does not install {rel(img.lock.path)}"
    assert "pip check" in runs, "check the installed set is complete"


@pytest.mark.parametrize("img", DOCKERFILES)
def test_every_copy_source_is_in_the_build_context(img: Image):
    for instruction in instructions(img.dockerfile):
        if instruction.keyword not in ("COPY", "ADD"):
            continue
        assert instruction.keyword == "COPY", "ADD fetches and unpacks: use COPY"
        flags, words = instruction.flags_and_words()
        if "from" in flags:
            continue
        for source in words[:-1]:
            assert (REPO_ROOT / source).exists(), f"{rel(img.dockerfile)}: COPY {source}: missing"
            assert not excluded_from_context(source), f"COPY {source}: .dockerignore drops it"


def test_dockerignore_keeps_local_state_out_and_sources_in():
    for path in (".venv", "tools", ".podlab", ".test-logs", ".git", ".mypy_cache",
                 "hub/src/podlab/__pycache__", "hub/build", "hub/src/podlab.egg-info",
                 ".ruff_cache", ".pytest_cache", "terraform/.terraform"):  # fmt: skip
        assert excluded_from_context(path), f"{path} must not be sent to the builder"
    tracked = subprocess.run(
        [
            "git",
            "ls-files",
            "--cached",
            "--others",
            "--exclude-standard",
            "hub",
            "envlogger",
            "mlflow-server",
            "images",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
    ).stdout.split()
    needed = [p for p in tracked if p.endswith((".py", ".toml", ".md", ".json", ".lock", ".txt"))]
    assert needed, "git lists no source files"
    dropped = [p for p in needed if excluded_from_context(p)]
    assert not dropped, f".dockerignore drops sources the images build from: {dropped[:10]}"
    assert DOCKERIGNORE.exists()


# -- the single-user images ----------------------------------------------------------------------
GLIBC = {"bookworm": (2, 36), "ubuntu24.04": (2, 39)}
"""glibc of each base distribution used (check a new one before adding it)."""


@pytest.mark.parametrize("img", SINGLEUSER)
def test_vscode_can_install_its_server_when_attached(img: Image):
    (base,) = set(base_images(img.dockerfile))
    distro = next((d for d in GLIBC if base.endswith(d)), None)
    assert distro, f"{base}: unknown distribution; add its glibc version to GLIBC"
    assert GLIBC[distro] >= (2, 28), f"VS Code Server needs glibc >= 2.28, {distro} has less"
    stage = final_stage(img.dockerfile)
    assert {"libstdc++6", "tar", "curl", "procps", "git"} <= apt_packages(stage)


@pytest.mark.parametrize("img", SINGLEUSER)
def test_user_matches_what_kubespawner_is_configured_with(img: Image):
    stage = final_stage(img.dockerfile)
    home = kubespawner_config.HOME
    runs = " ".join(i.args for i in stage if i.keyword == "RUN")
    useradd = re.search(r"useradd ([^&;]+)", runs)
    assert useradd, "create the user with a passwd entry (useradd)"
    words = useradd.group(1).split()
    assert words[words.index("--uid") + 1] == str(kubespawner_config.UID)
    assert words[words.index("--gid") + 1] == str(kubespawner_config.GID)
    assert words[words.index("--home-dir") + 1] == home
    assert "--create-home" in words
    assert env_of(stage)["HOME"] == home
    workdir = last(stage, "WORKDIR")
    assert workdir is not None
    assert workdir.args == home
    # The venv belongs to the user, so `pip install` works in a notebook.
    venv = [i for i in stage if i.keyword == "COPY" and "/opt/venv" in i.args]
    assert venv
    assert venv[0].flags_and_words()[0].get("chown") == EXPECTED_USER[img.name]


@pytest.mark.parametrize("img", SINGLEUSER)
def test_start_command_runs_the_shared_startup_code(img: Image):
    stage = final_stage(img.dockerfile)
    copies = _copies(stage)
    default = re.search(r"PODLAB_STARTUP_SCRIPT:-([^}]+)\}", START_SCRIPT.read_text())
    assert default, "start-singleuser.sh names the startup script's path in the image"
    assert copies[default.group(1)] == rel(STARTUP_SOURCE), "the same code as the local spawner"
    assert copies["/usr/local/bin/start-singleuser.sh"] == rel(START_SCRIPT)
    assert START_SCRIPT.stat().st_mode & stat.S_IXUSR, "start-singleuser.sh must be executable"
    cmd, entrypoint = last(stage, "CMD"), last(stage, "ENTRYPOINT")
    assert cmd is not None
    assert cmd.exec_form() == ["start-singleuser.sh"]
    assert entrypoint is not None
    assert entrypoint.exec_form() == ["tini", "-g", "--", "podlab-entrypoint.sh"]
    assert copies["/usr/local/bin/podlab-entrypoint.sh"] == rel(ENTRYPOINT_SCRIPT)
    assert ENTRYPOINT_SCRIPT.stat().st_mode & stat.S_IXUSR
    assert "tini" in apt_packages(stage)


def test_gpu_image_is_the_cpu_image_on_a_cuda_base():
    cpu, gpu = (
        final_stage(image("singleuser").dockerfile),
        final_stage(image("singleuser-gpu").dockerfile),
    )
    for keyword in ("USER", "WORKDIR", "EXPOSE", "HEALTHCHECK", "ENTRYPOINT", "CMD"):
        cpu_value, gpu_value = last(cpu, keyword), last(gpu, keyword)
        assert cpu_value is not None, keyword
        assert gpu_value is not None, keyword
        assert cpu_value.args == gpu_value.args, keyword
    assert _copies(cpu) == _copies(gpu)
    # Ubuntu's CUDA base brings no Python: the GPU image adds the same minor version.
    assert apt_packages(gpu) - apt_packages(cpu) == {"python3.12", "python3.12-venv"}
    assert apt_packages(cpu) <= apt_packages(gpu)
    cpu_env = env_of(cpu)
    gpu_env = {k: v for k, v in env_of(gpu).items() if not k.startswith("NVIDIA_")}
    assert cpu_env == gpu_env


# -- the hub image and the chart -----------------------------------------------------------------
def _values() -> dict[str, Any]:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert isinstance(values, dict)
    return values


def test_hub_image_has_the_config_file_the_chart_runs():
    copies = _copies(final_stage(image("hub").dockerfile))
    assert copies[_values()["hub"]["configFile"]] == "hub/jupyterhub_config.py"
    cmd = last(final_stage(image("hub").dockerfile), "CMD")
    assert cmd is not None
    assert _values()["hub"]["configFile"] in (cmd.exec_form() or [])


def _dry_run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(BUILD_SCRIPT), *args],
        capture_output=True, text=True, timeout=60, check=False, cwd=REPO_ROOT, env=env,
    )  # fmt: skip


def test_build_script_tags_are_the_images_the_chart_deploys():
    proc = _dry_run("--dry-run")
    assert proc.returncode == 0, proc.stderr
    tags = re.findall(r"--tag (\S+)", proc.stdout)
    values = _values()
    chart_images = {
        f"{values['hub']['image']['repository']}:{values['hub']['image']['tag']}",
        f"{values['mlflow']['image']['repository']}:{values['mlflow']['image']['tag']}",
        values["podlab"]["default_image"],
    }
    assert chart_images <= set(tags), f"make images builds {tags}, the chart deploys {chart_images}"
    version = values["hub"]["image"]["tag"]
    for name in ("hub", "singleuser", "singleuser-gpu", "mlflow"):
        assert f"podlab/{name}:{version}" in tags
        assert any(
            re.fullmatch(rf"podlab/{name}:{version}-g[0-9a-f]{{12}}(-dirty)?", t) for t in tags
        )
    for img in IMAGES:
        assert f"--file {rel(img.dockerfile)}" in proc.stdout
    pushed = _dry_run(
        "--dry-run", "--push", "--registry", "reg.example/team", "--tag", "9.9.9", "hub"
    )
    assert pushed.returncode == 0, pushed.stderr
    assert "--tag reg.example/team/podlab/hub:9.9.9 " in pushed.stdout
    assert "--push" in pushed.stdout
    assert "--sbom=true" in pushed.stdout


def test_build_script_without_an_engine_says_what_to_do(tmp_path: Path):
    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    proc = _dry_run("hub", env=env)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "no container engine" in proc.stderr
    assert "--dry-run" in proc.stderr
    unknown = _dry_run("--dry-run", "notebook")
    assert unknown.returncode == 2
    assert "unknown image notebook; known: hub singleuser singleuser-gpu mlflow" in unknown.stderr


def test_mlflow_image_runs_what_the_chart_runs():
    stage = final_stage(image("mlflow").dockerfile)
    entrypoint, cmd = last(stage, "ENTRYPOINT"), last(stage, "CMD")
    assert entrypoint is not None
    assert cmd is not None
    # `docker run IMAGE` serves, `docker run IMAGE migrate` migrates; the chart's
    # `command: [podlab-mlflow, serve|migrate]` replaces the entrypoint with the same thing.
    assert (entrypoint.exec_form() or []) + (cmd.exec_form() or []) == ["podlab-mlflow", "serve"]
    deployment = (CHART / "templates" / "mlflow" / "deployment.yaml").read_text()
    job = (CHART / "templates" / "mlflow" / "migrate-job.yaml").read_text()
    assert "command: [podlab-mlflow, serve]" in deployment
    assert "command: [podlab-mlflow, migrate]" in job
    _, port = _chart_probe("mlflow")
    assert env_of(stage)["PODLAB_MLFLOW_PORT"] == str(port)
    assert env_of(stage)["HOME"] == "/tmp", "the only writable path under readOnlyRootFilesystem"


def test_build_script_builds_the_images_the_package_knows():
    """images/build.sh (bash) and podlab.images (the test bed runs pods of these images) name
    the same Dockerfile for each image."""
    text = BUILD_SCRIPT.read_text()
    (names,) = re.findall(r"^ALL=\(([^)]*)\)", text, re.M)
    assert names.split() == list(IMAGE_DOCKERFILES)
    for name, dockerfile in IMAGE_DOCKERFILES.items():
        assert (REPO_ROOT / dockerfile).is_file()
        function = f'source <(sed -n "/^dockerfile_of()/,/^}}/p" {BUILD_SCRIPT})'
        proc = subprocess.run(
            ["bash", "-c", f"{function}; dockerfile_of {name}"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert proc.stdout.strip() == dockerfile


@pytest.mark.parametrize(
    ("reference", "name"),
    [
        ("podlab/hub:0.2.0", "hub"),
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/podlab/singleuser-gpu:0.1.0",
            "singleuser-gpu",
        ),
        ("localhost:5000/podlab/mlflow@sha256:" + "0" * 64, "mlflow"),
        ("podlab/singleuser", "singleuser"),
        ("quay.io/jupyterhub/configurable-http-proxy:4.6.3", None),
        ("python:3.12", None),
    ],
)
def test_image_references_map_to_the_dockerfiles(reference: str, name: str | None):
    assert image_name(reference) == name


def test_the_singleuser_image_model_follows_kubernetes_command_rules():
    model = image_model("podlab/singleuser:1", REPO_ROOT, "/usr/bin:/bin")
    assert model is not None
    assert model.entrypoint == ["tini", "-g", "--", "podlab-entrypoint.sh"]
    assert model.argv(None, None) == [*model.entrypoint, "start-singleuser.sh"]
    assert model.argv(None, ["python", "x.py"]) == [*model.entrypoint, "python", "x.py"]
    assert model.argv(["bash"], ["-c", "true"]) == ["bash", "-c", "true"]
    assert model.user == (1000, 100)
    assert model.workdir == "/home/jovyan"
    assert model.env["PATH"] == "/opt/venv/bin:/usr/bin:/bin"
    assert model.venv_paths == ["/opt/venv"]
    copied = {target: source for source, target in model.files}
    assert copied["/usr/local/bin/start-singleuser.sh"] == START_SCRIPT
    assert copied["/usr/local/lib/podlab/startup.py"] == STARTUP_SOURCE
