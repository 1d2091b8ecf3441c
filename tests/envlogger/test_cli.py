"""The `envlogger` console script: show, diff of two real runs, and a reproduce script that,
executed in a temp dir, recreates the working tree byte for byte and reruns the script."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from mlflow.tracking import MlflowClient

import envlogger
from envlogger.cli import main
from tests.envlogger.git_helpers import (
    ENVLOGGER_SRC,
    git,
    make_repo,
    python_env,
    run_python,
    tree_hashes,
    write,
)

ENVLOGGER = str(Path(sys.executable).parent / "envlogger")


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ENVLOGGER, *args], cwd=cwd, env=env or python_env(), capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip


def test_show_json_and_text(tmp_path):
    repo = make_repo(tmp_path / "repo")
    head = git(repo, "rev-parse", "HEAD")
    shown = cli("show", "--json", cwd=repo)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["git"]["commit"] == head
    assert data["git"]["dirty"] is False
    assert data["argv"][1:] == ["show", "--json"]
    text = cli("show", cwd=repo)
    assert text.returncode == 0, text.stderr
    assert f"git         : {head} (clean) branch=main" in text.stdout.splitlines()
    assert f"repository  : {repo}  remote=-" in text.stdout.splitlines()


SCRIPT = """
import mlflow, sys
with mlflow.start_run() as run:
    pass
print("RUN:" + run.info.run_id)
"""


def _site(path: Path, *folders: str) -> Path:
    for folder in folders:
        (path / folder).mkdir(parents=True)
    return path


def test_diff_two_runs(tracking, tmp_path, capsys):
    repo = make_repo(tmp_path / "repo", {"train.py": SCRIPT})
    site_a = _site(tmp_path / "site-a", "shifty-1.0.dist-info", "gone_pkg-1.0.dist-info")
    site_b = _site(tmp_path / "site-b", "shifty-2.0.dist-info", "new_pkg-0.5.dist-info")
    runs = []
    for site, args in ((site_a, ["--lr", "0.1"]), (site_b, ["--lr", "0.2"])):
        env = python_env({"MLFLOW_TRACKING_URI": tracking.url})
        env["PYTHONPATH"] = f"{env['PYTHONPATH']}{os.pathsep}{site}"
        out = run_python(["train.py", *args], cwd=repo, env=env).stdout
        runs.append(next(line[4:] for line in out.splitlines() if line.startswith("RUN:")))
    env = python_env({"MLFLOW_TRACKING_URI": tracking.url})
    result = cli("diff", runs[0], runs[1], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    head = git(repo, "rev-parse", "HEAD")
    assert result.stdout.splitlines() == [
        f"--- {runs[0]}",
        f"+++ {runs[1]}",
        f'  commit: "{head}" (same)',
        "  dirty: false (same)",
        f'  python: "{sys.version.split()[0]}" (same)',
        '~ argv: ["train.py", "--lr", "0.1"] -> ["train.py", "--lr", "0.2"]',
        result.stdout.splitlines()[6],  # env_hash line, checked below
        "+ new_pkg==0.5",
        "- gone_pkg==1.0",
        "~ shifty: 1.0 -> 2.0",
    ]
    assert result.stdout.splitlines()[6].startswith("~ env_hash: ")
    # The JSON form, in-process (the console script itself was exercised just above).
    capsys.readouterr()
    assert main(["diff", runs[0], runs[1], "--json"]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert as_json["packages"] == {
        "added": ["new_pkg==0.5"],
        "removed": ["gone_pkg==1.0"],
        "changed": [{"name": "shifty", "from": "1.0", "to": "2.0"}],
    }


def _wheel(wheelhouse: Path, name: str, version: str) -> Path:
    """A minimal pure-Python wheel, so the reproduced venv installs offline."""
    module = name.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": f"__version__ = {version!r}\n".encode(),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheelhouse.mkdir(parents=True, exist_ok=True)
    target = wheelhouse / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(target, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return target


USER_SCRIPT = """
import json, os, sys
from pathlib import Path
import demo_pkg

if os.environ.get("CAPTURE_DIR"):
    # The user's venv has no MLflow: capture here, the test logs the result to the server.
    sys.path.insert(0, os.environ["ENVLOGGER_SRC_DIR"])
    import envlogger
    from envlogger.mlflow_log import build_tags, write_artifacts
    snap = envlogger.capture()
    write_artifacts(snap, Path(os.environ["CAPTURE_DIR"]) / "envlogger")
    Path(os.environ["CAPTURE_DIR"], "tags.json").write_text(json.dumps(build_tags(snap)))
Path(os.environ["RESULT_FILE"]).write_text(json.dumps({
    "argv": sys.argv[1:], "demo_pkg": demo_pkg.__version__, "cwd": os.getcwd(),
    "input": Path("data/input.txt").read_text(), "python": sys.executable,
}))
"""


def test_reproduce_recreates_tree_and_reruns(tracking, tmp_path):
    base_python = getattr(sys, "_base_executable", sys.executable)
    wheels = tmp_path / "wheels"
    wheel = _wheel(wheels, "demo-pkg", "1.0")
    user_venv = tmp_path / "user-venv"
    subprocess.run([base_python, "-m", "venv", "--without-pip", str(user_venv)], check=True)
    # Installing a pure-Python wheel is unpacking it into site-packages (pip is not needed).
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(user_venv / "lib" / version / "site-packages")

    repo = make_repo(tmp_path / "repo", {
        "train.py": USER_SCRIPT, "data/input.txt": "v1\n", "old.txt": "to be deleted\n",
        ".gitignore": "outputs/\n",
    })  # fmt: skip
    head = git(repo, "rev-parse", "HEAD")
    # Every kind of uncommitted state at once.
    write(repo / "data" / "input.txt", "v2 — edited, not committed\n")
    (repo / "old.txt").unlink()
    write(repo / "staged.py", "STAGED = True\n")
    git(repo, "add", "staged.py")
    write(repo / "notes" / "idea.md", "no trailing newline")
    write(repo / "empty.cfg", "")
    tool = write(repo / "bin" / "run.sh", "#!/bin/sh\nexec python train.py\n")
    tool.chmod(0o755)
    with open(os.fsencode(repo) + b"/r\xe9sultats.txt", "wb") as fh:
        fh.write(b"latin-1 file name\n")
    write(repo / "outputs" / "ignored.txt", "ignored\n")
    original = tree_hashes(repo)

    capture_dir = tmp_path / "capture"
    first_result = tmp_path / "first.json"
    run_python(
        ["train.py", "--epochs", "3", "--password", "hunter2"], cwd=repo,
        python=str(user_venv / "bin" / "python"),
        env={**python_env(), "CAPTURE_DIR": str(capture_dir), "RESULT_FILE": str(first_result),
             "ENVLOGGER_SRC_DIR": str(ENVLOGGER_SRC), "PYTHONPATH": ""},
    )  # fmt: skip
    assert tree_hashes(repo) == original
    client = MlflowClient(tracking.url)
    run_id = client.create_run(client.create_experiment("envlogger-reproduce")).info.run_id
    for key, value in json.loads((capture_dir / "tags.json").read_text()).items():
        client.set_tag(run_id, key, value)
    client.log_artifacts(run_id, str(capture_dir / "envlogger"), "envlogger")
    tags = client.get_run(run_id).data.tags
    assert tags["envlogger.git"] == "dirty"
    requirements = (capture_dir / "envlogger" / "requirements.txt").read_text().splitlines()
    assert requirements[1:] == ["demo_pkg==1.0"]  # pip/setuptools are left out, as pip freeze does

    script = tmp_path / "reproduce.sh"
    assert main(["reproduce", run_id, "-o", str(script)]) == 0
    assert f"\nCOMMIT={head}\n" in script.read_text()  # the template checks out "$COMMIT"

    target = tmp_path / "reproduced"
    second_result = tmp_path / "second.json"
    run_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")} | {
        "ENVLOGGER_PYTHON": base_python,
        "ENVLOGGER_PIP_ARGS": f"--no-index --find-links {wheels}",
        "RESULT_FILE": str(second_result),
    }
    done = subprocess.run(
        ["bash", str(script), str(target)], cwd=tmp_path, env=run_env, capture_output=True,
        text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert (
        "envlogger: some arguments were redacted as *** when recorded; edit the last line of "
        "this script to supply them" in done.stderr
    )

    # Byte for byte: same files (tracked and untracked, ignored ones excepted), same content,
    # same executable bits; the staged file is there, the deleted one is gone.
    assert tree_hashes(target / "src") == original
    assert git(target / "src", "rev-parse", "HEAD") == head
    first = json.loads(first_result.read_text())
    second = json.loads(second_result.read_text())
    assert second["argv"] == ["--epochs", "3", "--password", "***"]
    assert second["demo_pkg"] == first["demo_pkg"] == "1.0"
    assert second["input"] == first["input"] == "v2 — edited, not committed\n"
    assert second["cwd"] == str(target / "src")
    assert second["python"] == str(target / "venv" / "bin" / "python")


def test_reproduce_refuses_a_run_without_git(tracking, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ENVLOGGER_DISABLE", "1")
    plain = tmp_path / "plain"
    plain.mkdir()
    snap = envlogger.capture(plain)
    client = MlflowClient(tracking.url)
    run_id = client.create_run(client.create_experiment("envlogger-nogit")).info.run_id
    envlogger.log_to_mlflow(run_id, capture=snap)
    tags = client.get_run(run_id).data.tags
    assert tags["envlogger.git.unavailable"] == "not-a-repo"
    assert tags["envlogger.git"] == "unavailable"
    assert main(["reproduce", run_id]) == 2
    assert capsys.readouterr().err == (
        f"envlogger: run {run_id} has no git state (not-a-repo: fatal: not a git repository "
        "(or any of the parent directories): .git); only runs launched from a git repository "
        "can be reproduced\n"
    )


def test_reproduce_unknown_run_says_what_to_check(tracking, capsys):
    assert main(["reproduce", "0123456789abcdef0123456789abcdef"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "envlogger: cannot download envlogger/environment.json of run "
        "0123456789abcdef0123456789abcdef: "
    )
    assert err.rstrip().endswith(
        "Check MLFLOW_TRACKING_URI and that the run was logged with envlogger installed"
    )
