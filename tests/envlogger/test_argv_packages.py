"""argv redaction, package scanning (broken metadata, editable installs) and immutability."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

import envlogger
from envlogger.packages import freeze_lines, scan_packages
from tests.envlogger.git_helpers import PROBE, git, make_repo, probe_output, run_python, write


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--token=abc123", "--lr", "0.1"], ["--token=***", "--lr", "0.1"]),
        (["--password", "hunter2", "--epochs", "3"], ["--password", "***", "--epochs", "3"]),
        (["--api-key", "k-1", "--api_key=k-2"], ["--api-key", "***", "--api_key=***"]),
        (["--db-passwd", "x"], ["--db-passwd", "***"]),
        (
            ["AWS_SECRET_ACCESS_KEY=abc", "MY_SECRET=1"],
            ["AWS_SECRET_ACCESS_KEY=***", "MY_SECRET=***"],
        ),
        (["--hf-token", "--verbose"], ["--hf-token", "--verbose"]),
        (["--data", "https://bob:pw@host/x"], ["--data", "https://bob:***@host/x"]),
        (["--learning-rate", "3e-4", "out/dir"], ["--learning-rate", "3e-4", "out/dir"]),
    ],
)
def test_secrets_in_argv_are_redacted(argv, expected):
    assert envlogger.redact_argv(argv) == expected


def test_script_argv_is_redacted_in_capture(tmp_path):
    repo = make_repo(tmp_path / "repo")
    write(repo / "probe.py", PROBE)
    out = run_python(["probe.py", "--token=abc", "--password", "hunter2", "--lr", "0.1"], cwd=repo)
    data = probe_output(out.stdout)
    assert data["argv"] == ["probe.py", "--token=***", "--password", "***", "--lr", "0.1"]
    assert "hunter2" not in json.dumps(data)
    assert "abc" not in json.dumps(data["orig_argv"])


def _dist_info(site: Path, folder: str, metadata: str | None = None) -> Path:
    path = site / folder
    path.mkdir(parents=True)
    if metadata is not None:
        (path / "METADATA").write_text(metadata)
    return path


def test_broken_metadata_is_listed_never_fatal(tmp_path, monkeypatch):
    site = tmp_path / "site"
    _dist_info(site, "alpha-1.0.dist-info", "Metadata-Version: 2.1\nName: alpha\nVersion: 1.0\n")
    _dist_info(site, "Beta_Pkg-2.0.dist-info")
    _dist_info(site, "gamma-0.3-py3.11.egg-info")
    _dist_info(site, "noversion.dist-info")
    _dist_info(site, "garbled.dist-info", "\x00\xff not an email header\n")
    _dist_info(site, "legacy.egg-info", "Metadata-Version: 1.0\nName: legacy\nVersion: 0.9\n")
    (site / "filelike-1.0.dist-info").write_text("a file, not a folder")
    monkeypatch.setattr(sys, "path", [str(site), *sys.path])
    snap = envlogger.capture(tmp_path)
    by_name = {p.name: p.version for p in snap.packages}
    assert by_name["alpha"] == "1.0"
    assert by_name["Beta_Pkg"] == "2.0"
    assert by_name["gamma"] == "0.3"
    assert by_name["legacy"] == "0.9"
    assert by_name["filelike"] == "1.0"
    assert "pytest" in by_name  # the real environment is still there
    broken = {b.path: b.error for b in snap.broken_packages}
    assert broken == {
        str(site / "noversion.dist-info"): "no version in the folder name and no "
        "METADATA/PKG-INFO file",
        str(site / "garbled.dist-info"): "METADATA has no Name/Version header",
    }
    assert snap.errors == ()
    assert "Beta_Pkg==2.0" in snap.requirements_txt().splitlines()


def test_editable_install_records_source_commit_and_dirty(tmp_path, monkeypatch):
    src = make_repo(tmp_path / "mylib", {"pyproject.toml": "[project]\nname='mylib'\n"})
    git(src, "remote", "add", "origin", "https://user:pw@git.example.com/ml/mylib.git")
    write(src / "mylib.py", "VALUE = 1\n")  # untracked: the source tree is dirty
    site = tmp_path / "site"
    info = _dist_info(site, "mylib-0.1.dist-info")
    (info / "direct_url.json").write_text(
        json.dumps({"url": src.as_uri(), "dir_info": {"editable": True}})
    )
    (site / "__editable__.mylib-0.1.pth").write_text(str(src) + "\n")
    monkeypatch.setattr(sys, "path", [str(site), *sys.path])
    snap = envlogger.capture(tmp_path)
    pkg = next(p for p in snap.packages if p.name == "mylib")
    commit = git(src, "rev-parse", "HEAD")
    assert pkg.to_dict() == {
        "name": "mylib",
        "version": "0.1",
        "editable": True,
        "source": str(src),
        "source_commit": commit,
        "source_dirty": True,
        "source_remote": "https://git.example.com/ml/mylib.git",
        "source_subdir": ".",
    }
    lines = freeze_lines([pkg])
    assert lines == [
        f"# editable mylib==0.1 from {src} ({commit}, dirty)",
        f"-e git+https://git.example.com/ml/mylib.git@{commit}#egg=mylib",
    ]


def test_scan_reads_folder_names_only(tmp_path):
    site = tmp_path / "site"
    for i in range(50):
        _dist_info(site, f"pkg{i}-1.{i}.dist-info")  # no METADATA at all: names suffice
    result = scan_packages([str(site)])
    assert len(result.packages) == 50
    assert result.broken == ()


def test_capture_is_immutable_and_json_round_trips(tmp_path):
    repo = make_repo(tmp_path / "repo")
    snap = envlogger.capture(repo)
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.argv = ("x",)  # type: ignore[misc]
    data = json.loads(snap.to_json())
    assert set(data) >= {"git", "entry_point", "argv", "packages", "runtime", "env_hash"}
    assert set(data["git"]) >= {
        "commit", "dirty", "branch", "remote", "root", "untracked", "unpushed_commits",
        "submodules", "unavailable_reason", "diff",
    }  # fmt: skip
    assert data["runtime"]["python"]["version"] == sys.version.split()[0]
    assert data["runtime"]["cpus"] >= 1
    again = envlogger.Capture.from_dict(data)
    assert again.env_hash == snap.env_hash
    assert again.git.commit == snap.git.commit


def test_runtime_podlab_context_and_env_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("PODLAB_PROFILE", "gpu-small")
    monkeypatch.setenv("JUPYTER_IMAGE", "podlab/singleuser-gpu:1.0")
    monkeypatch.setenv("POD_NAMESPACE", "podlab-alice")
    monkeypatch.setenv("PODLAB_POD_NAME", "jupyter-alice")
    a = envlogger.capture(tmp_path)
    b = envlogger.capture(tmp_path)
    assert a.runtime["podlab"] == {
        "profile": "gpu-small",
        "image": "podlab/singleuser-gpu:1.0",
        "pod": "jupyter-alice",
        "namespace": "podlab-alice",
    }
    assert a.env_hash == b.env_hash
    assert len(a.env_hash) == 64


def test_torch_described_only_when_already_imported(tmp_path):
    code = (
        "import json, sys, envlogger\n"
        "before = envlogger.capture().runtime\n"
        "import torch\n"
        "after = envlogger.capture().runtime\n"
        "print('ENVLOGGER-JSON:' + json.dumps([('torch' in before), after['torch'],\n"
        "      torch.__version__, torch.version.cuda, torch.cuda.device_count()]))\n"
    )
    out = run_python(["-c", code], cwd=tmp_path).stdout
    had_torch_before, info, version, cuda, devices = probe_output(out)
    assert had_torch_before is False
    assert info["version"] == version
    assert info["cuda"] == cuda
    assert len(info["gpus"]) == devices  # names of the GPUs torch sees (none on CPU machines)


def test_capture_never_raises_when_a_part_fails(tmp_path, monkeypatch):
    import envlogger.snapshot as capture_module

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(capture_module, "scan_packages", boom)
    monkeypatch.setattr(capture_module, "capture_runtime", boom)
    repo = make_repo(tmp_path / "repo")
    snap = envlogger.capture(repo)
    assert snap.errors == ("packages: RuntimeError: boom", "runtime: RuntimeError: boom")
    assert snap.packages == ()
    assert snap.git.commit == git(repo, "rev-parse", "HEAD")  # the rest is still captured
