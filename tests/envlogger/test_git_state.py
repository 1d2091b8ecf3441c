"""Repository states against real git: every state the issue names, and the patch that
`reproduce` applies recreates the working tree byte for byte."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import envlogger
from envlogger.gitstate import capture_git, strip_credentials
from tests.envlogger.git_helpers import (
    PROBE,
    commit_all,
    git,
    make_repo,
    probe_output,
    python_env,
    run_python,
    tree_hashes,
    write,
)


def apply_to_fresh_checkout(repo: Path, tmp_path: Path, diff: bytes) -> Path:
    """Clone the recorded commit elsewhere and apply the captured patch, as reproduce does."""
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--no-checkout", str(repo), str(clone))
    git(clone, "checkout", "-q", "--detach", git(repo, "rev-parse", "HEAD"))
    patch = tmp_path / "capture.diff"
    patch.write_bytes(diff)
    if diff:
        git(clone, "apply", "--whitespace=nowarn", str(patch))
    return clone


def test_clean_repository(tmp_path):
    repo = make_repo(tmp_path / "repo")
    state = capture_git(repo)
    assert state.commit == git(repo, "rev-parse", "HEAD")
    assert len(state.commit) == 40
    assert state.dirty is False
    assert state.branch == "main"
    assert state.detached is False
    assert state.root == str(repo)
    assert state.untracked == ()
    assert state.diff_bytes == b""
    assert state.unavailable_reason is None
    assert state.remote is None
    assert state.unpushed_commits is None


def test_tracked_change_is_dirty_and_in_diff(tmp_path):
    repo = make_repo(tmp_path / "repo")
    write(repo / "train.py", "print('changed')\n")
    state = capture_git(repo)
    assert state.dirty is True
    assert state.changed == ("train.py",)
    assert state.staged == ()
    assert b"-print('hi')\n+print('changed')\n" in state.diff_bytes
    clone = apply_to_fresh_checkout(repo, tmp_path, state.diff_bytes)
    assert tree_hashes(clone) == tree_hashes(repo)


def test_staged_only_change_is_dirty(tmp_path):
    repo = make_repo(tmp_path / "repo")
    write(repo / "lib.py", "X = 1\n")
    git(repo, "add", "lib.py")
    state = capture_git(repo)
    assert state.dirty is True
    assert state.staged == ("lib.py",)
    assert state.untracked == ()
    assert b"new file mode 100644" in state.diff_bytes
    assert b"+X = 1\n" in state.diff_bytes
    clone = apply_to_fresh_checkout(repo, tmp_path, state.diff_bytes)
    assert tree_hashes(clone) == tree_hashes(repo)


def test_untracked_only_is_dirty(tmp_path):
    repo = make_repo(tmp_path / "repo")
    write(repo / "notes" / "todo.txt", "try lr=0.1")  # no trailing newline
    write(repo / ".gitignore", "*.log\n")
    write(repo / "debug.log", "ignored\n")
    state = capture_git(repo)
    assert state.dirty is True
    assert sorted(state.untracked) == [".gitignore", "notes/todo.txt"]
    assert state.changed == ()
    assert b"\\ No newline at end of file" in state.diff_bytes
    assert b"debug.log" not in state.diff_bytes
    clone = apply_to_fresh_checkout(repo, tmp_path, state.diff_bytes)
    assert tree_hashes(clone) == tree_hashes(repo)
    # From a subfolder, paths are still relative to the repository root.
    from_subdir = capture_git(repo / "notes")
    assert from_subdir.root == str(repo)
    assert sorted(from_subdir.untracked) == [".gitignore", "notes/todo.txt"]
    assert from_subdir.diff_bytes == state.diff_bytes


def test_missing_start_folder(tmp_path):
    state = capture_git(tmp_path / "gone")
    assert state.unavailable_reason == "not-a-repo"
    assert state.unavailable_detail == f"{tmp_path / 'gone'} is not an existing folder"


def test_mixed_changes_round_trip_byte_for_byte(tmp_path):
    repo = make_repo(tmp_path / "repo", {"a.txt": "one\n", "gone.txt": "bye\n", "run.sh": "x\n"})
    write(repo / "a.txt", "one\r\ntwo\n")
    (repo / "gone.txt").unlink()
    write(repo / "empty.txt", "")
    script = write(repo / "tools" / "go.sh", "#!/bin/sh\necho go\n")
    script.chmod(0o755)
    os.symlink("a.txt", repo / "link-to-a")
    write(repo / "staged.txt", "staged\n")
    git(repo, "add", "staged.txt")
    state = capture_git(repo)
    assert state.dirty is True
    clone = apply_to_fresh_checkout(repo, tmp_path, state.diff_bytes)
    assert tree_hashes(clone) == tree_hashes(repo)


def test_detached_head(tmp_path):
    repo = make_repo(tmp_path / "repo")
    first = git(repo, "rev-parse", "HEAD")
    write(repo / "more.txt", "more\n")
    commit_all(repo)
    git(repo, "checkout", "-q", "--detach", first)
    state = capture_git(repo)
    assert state.detached is True
    assert state.branch is None
    assert state.commit == first
    assert state.dirty is False


def test_dirty_submodule(tmp_path):
    sub_origin = make_repo(tmp_path / "sub-origin", {"model.py": "W = 1\n"})
    repo = make_repo(tmp_path / "repo")
    git(repo, "submodule", "add", "-q", str(sub_origin), "vendor/sub")
    commit_all(repo, "add submodule")
    sub_commit = git(repo / "vendor" / "sub", "rev-parse", "HEAD")
    assert capture_git(repo).dirty is False
    write(repo / "vendor" / "sub" / "model.py", "W = 2\n")
    state = capture_git(repo)
    assert state.dirty is True
    assert [s.to_dict() for s in state.submodules] == [
        {
            "path": "vendor/sub",
            "commit": sub_commit,
            "recorded_commit": sub_commit,
            "dirty": True,
            "initialized": True,
        }
    ]
    # --submodule=diff: the change inside the submodule is in the patch with its full path.
    assert b"+++ b/vendor/sub/model.py" in state.diff_bytes
    assert b"+W = 2" in state.diff_bytes


def test_unpushed_commits_and_remote(tmp_path):
    origin = make_repo(tmp_path / "origin")
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(origin), str(bare))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    for i in range(2):
        write(clone / f"f{i}.txt", f"{i}\n")
        commit_all(clone, f"commit {i}")
    state = capture_git(clone)
    assert state.unpushed_commits == 2
    assert state.remote == str(bare)
    assert state.remote_name == "origin"
    git(clone, "push", "-q", "origin", "main")
    assert capture_git(clone).unpushed_commits == 0


def test_remote_credentials_are_stripped(tmp_path):
    repo = make_repo(tmp_path / "repo")
    git(repo, "remote", "add", "origin", "https://alice:ghp_s3cr3t@git.example.com/ml/proj.git")
    state = capture_git(repo)
    assert state.remote == "https://git.example.com/ml/proj.git"
    assert "s3cr3t" not in repr(state.to_dict())
    assert strip_credentials("git@github.com:ml/proj.git") == "git@github.com:ml/proj.git"
    assert strip_credentials("ssh://bob@host/x.git") == "ssh://host/x.git"


def test_not_a_repository(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    state = capture_git(plain)
    assert state.unavailable_reason == "not-a-repo"
    assert state.unavailable_detail == (
        "fatal: not a git repository (or any of the parent directories): .git"
    )
    assert state.commit is None
    assert state.dirty is None
    snap = envlogger.capture(plain)
    assert snap.to_dict()["git"]["unavailable_reason"] == "not-a-repo"
    assert snap.git_tag_value is None


def test_git_missing_from_path(tmp_path):
    repo = make_repo(tmp_path / "repo")
    write(repo / "probe.py", PROBE)
    env = python_env({"PATH": str(Path(sys.executable).parent)})
    assert shutil.which("git", path=env["PATH"]) is None
    data = probe_output(run_python(["probe.py"], cwd=repo, env=env).stdout)
    assert data["git"]["unavailable_reason"] == "no-git-executable"
    assert data["git"]["unavailable_detail"] == "no `git` executable on PATH"
    assert data["git"]["commit"] is None
    # Everything else is still captured.
    assert data["entry_point"]["kind"] == "script"
    assert data["packages"]
    assert data["errors"] == []


def test_repository_owned_by_another_user_is_dubious(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("this test chowns a repository to `nobody` and must run as root")
    repo = make_repo(tmp_path / "repo")
    subprocess.run(["chown", "-R", "nobody", str(repo)], check=True)
    state = capture_git(repo)
    assert state.unavailable_reason == "dubious-ownership"
    assert state.unavailable_detail is not None
    assert state.unavailable_detail.startswith(
        f"fatal: detected dubious ownership in repository at '{repo}'"
    )
    assert state.commit is None


def test_non_utf8_file_name(tmp_path):
    repo = make_repo(tmp_path / "repo")
    raw = os.fsencode(repo) + b"/caf\xe9-r\xe9sum\xe9.txt"
    with open(raw, "wb") as fh:
        fh.write(b"latin-1 name\n")
    state = capture_git(repo)
    assert state.dirty is True
    assert state.untracked == ("caf\\xe9-r\\xe9sum\\xe9.txt",)
    assert b'diff --git "a/caf\\351-r\\351sum\\351.txt"' in state.diff_bytes
    snap = envlogger.capture(repo)
    assert snap.to_json()  # JSON-safe
    clone = apply_to_fresh_checkout(repo, tmp_path, state.diff_bytes)
    assert tree_hashes(clone) == tree_hashes(repo)


def test_large_untracked_binary_is_listed_not_embedded(tmp_path):
    repo = make_repo(tmp_path / "repo")
    blob = os.urandom(50 * 1024 * 1024)
    write(repo / "weights.bin", blob)
    write(repo / "small.bin", b"\x00\x01\x02binary")
    state = capture_git(repo)
    assert state.dirty is True
    listed = {b.path: b.to_dict() for b in state.binary_files}
    assert listed["weights.bin"] == {
        "path": "weights.bin",
        "size": 50 * 1024 * 1024,
        "sha256": hashlib.sha256(blob).hexdigest(),
        "status": "untracked",
    }
    assert listed["small.bin"]["size"] == 9
    assert len(state.diff_bytes) < 4096
    assert b"diff --git a/weights.bin" not in state.diff_bytes
    header = f"#   untracked {50 * 1024 * 1024} {hashlib.sha256(blob).hexdigest()} weights.bin"
    assert header.encode() in state.diff_bytes
    (repo / "weights.bin").unlink()  # pytest keeps the last temp dirs: don't leave 50 MB


def test_commit_between_two_captures_in_one_process(tmp_path):
    repo = make_repo(tmp_path / "repo")
    write(repo / "probe2.py", (
        "import json, subprocess, envlogger\n"
        "GIT = ['git', '-c', 'user.name=t', '-c', 'user.email=t@t']\n"
        "first = envlogger.capture()\n"
        "open('new.txt', 'w').write('x\\n')\n"
        "subprocess.run([*GIT, 'add', '-A'], check=True)\n"
        "subprocess.run([*GIT, 'commit', '-qm', 'n'], check=True)\n"
        "second = envlogger.capture()\n"
        "print('ENVLOGGER-JSON:' + json.dumps([first.git.commit, first.git.dirty,\n"
        "      second.git.commit, second.git.dirty]))\n"
    ))  # fmt: skip
    commit_all(repo, "add probe")
    before = git(repo, "rev-parse", "HEAD")
    out = run_python(["probe2.py"], cwd=repo).stdout
    first_commit, first_dirty, second_commit, second_dirty = probe_output(out)
    after = git(repo, "rev-parse", "HEAD")
    assert before != after
    assert (first_commit, first_dirty) == (before, False)
    assert (second_commit, second_dirty) == (after, False)


def test_worktree_reads_remote_from_common_config(tmp_path):
    repo = make_repo(tmp_path / "repo")
    git(repo, "remote", "add", "origin", "https://token@git.example.com/ml/repo.git")
    worktree = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(worktree))
    state = capture_git(worktree)
    assert state.root == str(worktree)
    assert state.branch == "feature"
    assert state.remote == "https://git.example.com/ml/repo.git"
    assert state.commit == git(repo, "rev-parse", "HEAD")
    assert state.dirty is False


def test_config_with_include_falls_back_to_git(tmp_path):
    repo = make_repo(tmp_path / "repo")
    extra = tmp_path / "extra.gitconfig"
    extra.write_text('[remote "upstream"]\n\turl = https://u:p@example.org/x.git\n')
    git(repo, "config", "include.path", str(extra))
    state = capture_git(repo)
    assert state.remote == "https://example.org/x.git"
    assert state.remote_name == "upstream"


def test_repeated_dirty_captures_start_the_diff_early_and_agree(tmp_path):
    """After a dirty capture the next one runs `git diff` next to `git status`; the result is
    what a first capture would record, and a tree cleaned in between records no diff."""
    from envlogger import gitstate

    repo = make_repo(tmp_path / "repo")
    write(repo / "train.py", "print('changed')\n")
    write(repo / "notes.txt", "untracked\n")
    gitstate._LAST_DIRTY.clear()
    first = capture_git(repo)
    probe = gitstate.GitProbe(repo)
    assert "diff" in probe.pending, "a dirty tree last time: the diff starts at once"
    second = probe.finish()
    assert second.to_dict() == first.to_dict()
    clone = apply_to_fresh_checkout(repo, tmp_path, second.diff_bytes)
    assert tree_hashes(clone) == tree_hashes(repo)
    git(repo, "checkout", "--", "train.py")
    (repo / "notes.txt").unlink()
    clean = capture_git(repo)
    assert (clean.dirty, clean.diff_bytes) == (False, b"")
    probe = gitstate.GitProbe(repo)
    assert "diff" not in probe.pending, "clean last time: no early diff"
    probe.finish()


def test_early_diff_is_dropped_when_head_moved_meanwhile(tmp_path):
    """The early diff runs against the commit of the last dirty capture; when the status
    reports another commit (a commit since), the capture diffs against that one, so commit +
    diff still rebuild the tree."""
    from envlogger import gitstate

    repo = make_repo(tmp_path / "repo")
    write(repo / "train.py", "print('one')\n")
    gitstate._LAST_DIRTY.clear()
    first = capture_git(repo)
    commit_all(repo, "between")
    write(repo / "train.py", "print('two')\n")
    probe = gitstate.GitProbe(repo)
    assert probe.pending["diff"].args[:2] == ["diff", first.commit], "started against C1"
    state = probe.finish()
    assert state.commit == git(repo, "rev-parse", "HEAD") != first.commit
    assert b"-print('one')\n+print('two')\n" in state.diff_bytes
    clone = apply_to_fresh_checkout(repo, tmp_path, state.diff_bytes)
    assert tree_hashes(clone) == tree_hashes(repo)


def test_no_early_diff_without_a_commit(tmp_path):
    """A repository without commits has nothing to diff against early: the capture diffs
    against the empty tree, as always."""
    from envlogger import gitstate

    repo = tmp_path / "fresh"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write(repo / "a.txt", "one\n")
    git(repo, "add", "a.txt")
    gitstate._LAST_DIRTY.clear()
    first = capture_git(repo)
    probe = gitstate.GitProbe(repo)
    assert "diff" not in probe.pending
    state = probe.finish()
    assert (first.commit, state.commit) == (None, None)
    assert state.dirty is True
    assert b"+one\n" in state.diff_bytes
