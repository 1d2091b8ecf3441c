"""Artifacts in a directory (the chart's default: a PersistentVolumeClaim mounted in the pod).

The chart renders with no bucket configured by keeping artifacts on a volume; the server
must then behave exactly as with S3: proxied uploads and downloads, owner checks, no path
that leaves the directory, and nothing written until the directory exists.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mlflow_server.stack_helpers import Stack, client_as


@pytest.fixture
def volume(volume_stack: Stack) -> tuple[Stack, Path]:
    return volume_stack, Path(volume_stack.server.artifacts_destination)


def test_artifacts_round_trip_through_the_server_into_the_directory(volume, tmp_path):
    stack, directory = volume
    source = tmp_path / "notes.txt"
    source.write_text("kept on the volume\n")
    with client_as(stack, "alice") as client:
        experiment = client.create_experiment("volume-artifacts")
        run = client.create_run(experiment)
        client.log_artifact(run.info.run_id, str(source), artifact_path="docs")
        listed = [f.path for f in client.list_artifacts(run.info.run_id, "docs")]
        fetched = Path(
            client.download_artifacts(run.info.run_id, "docs/notes.txt", str(tmp_path / "out"))
        )
    assert listed == ["docs/notes.txt"]
    assert fetched.read_text() == "kept on the volume\n"
    stored = list(directory.rglob("notes.txt"))
    assert len(stored) == 1, list(directory.rglob("*"))
    assert stored[0].read_text() == "kept on the volume\n"
    assert run.info.run_id in stored[0].parts


def test_another_user_cannot_write_into_a_run_they_do_not_own(volume, tmp_path):
    stack, directory = volume
    source = tmp_path / "intruder.txt"
    source.write_text("not yours\n")
    with client_as(stack, "alice") as client:
        run = client.create_run(client.create_experiment("volume-owner"))
    with client_as(stack, "bob") as client, pytest.raises(Exception, match=r"403|PERMISSION"):
        client.log_artifact(run.info.run_id, str(source))
    assert not list(directory.rglob("intruder.txt"))


@pytest.mark.parametrize(
    "target",
    [
        "/api/2.0/mlflow-artifacts/artifacts/../../escaped.txt",
        "/api/2.0/mlflow-artifacts/artifacts/1/%2e%2e/%2e%2e/escaped.txt",
        "/api/2.0/mlflow-artifacts/artifacts/%2Ftmp%2Fescaped.txt",
    ],
)
def test_no_path_leaves_the_directory(volume, target):
    stack, directory = volume
    status, body = stack.raw("PUT", target, "admin")
    assert status == 400, body
    assert not list(directory.parent.rglob("escaped.txt"))
    assert not Path("/tmp/escaped.txt").exists()
