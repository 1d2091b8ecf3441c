"""The pod runner's stand-in for the official postgres image (localstack/kube/stand_ins.py).
The image's first start runs for real in tests/chart/test_bundled_install.py; here: which
images it stands in for, what the model gives the container, and shellcheck on the script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from podlab.localstack.kube.stand_ins import POSTGRES_ENTRYPOINT, POSTGRES_UID, stand_in


@pytest.mark.parametrize(
    "reference",
    ["postgres:17.6", "docker.io/library/postgres:17.6", "registry:5000/postgres@sha256:ab"],
)
def test_the_official_postgres_image_gets_a_stand_in(reference: str):
    model = stand_in(reference, "/usr/bin:/bin")
    assert model is not None
    assert model.argv(None, None) == ["/usr/local/bin/docker-entrypoint.sh", "postgres"]
    assert model.user == (POSTGRES_UID, POSTGRES_UID)
    targets = {target: source for source, target in model.files}
    assert targets["/usr/local/bin/docker-entrypoint.sh"] == POSTGRES_ENTRYPOINT
    passwd = targets["/etc/passwd"].read_text().splitlines()
    assert any(line.split(":")[2] == str(POSTGRES_UID) for line in passwd)
    assert "root:x:0:0" in passwd[0]  # the machine's accounts are kept
    assert (Path(model.env["PATH"].split(":")[1]) / "initdb").is_file()


@pytest.mark.parametrize("reference", ["postgresql:17", "bitnami/postgresql:17", "redis:7"])
def test_other_images_get_none(reference: str):
    assert stand_in(reference, "/usr/bin") is None


def test_the_entrypoint_passes_shellcheck():
    shellcheck = Path(sys.executable).parent / "shellcheck"
    proc = subprocess.run(
        [str(shellcheck), str(POSTGRES_ENTRYPOINT)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
