"""Registry round trip with nothing but MLFLOW_TRACKING_URI and a token, as from a user pod.

Logging and loading run in separate processes with no AWS variables at all: the artifacts
can only travel through the server's proxy, and the bucket is checked afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest

from podlab.localstack.paths import REPO_ROOT

LOG = r"""
import json, sys
import numpy as np, torch, mlflow
from mlflow import MlflowClient
from tests.mlflow_server.torch_models import TinyNet
torch.manual_seed(0)
model = TinyNet().eval()
example = np.ones((1, 4), dtype=np.float32)
mlflow.set_experiment("registry-" + sys.argv[1])
result = {}
for name, fmt in zip(sys.argv[1::2], sys.argv[2::2]):
    with mlflow.start_run() as run:
        info = mlflow.pytorch.log_model(
            model, name="model", registered_model_name=name, serialization_format=fmt,
            pip_requirements=["torch"], input_example=example,
        )
    MlflowClient().set_registered_model_alias(name, "champion", info.registered_model_version)
    result[name] = {"version": info.registered_model_version, "user": run.info.user_id}
with torch.no_grad():
    result["out"] = model(torch.ones(1, 4)).tolist()[0]
print(json.dumps(result))
"""

LOAD = r"""
import json, sys
import torch, mlflow
result = {}
for uri in sys.argv[1:]:
    model = mlflow.pytorch.load_model(uri)
    with torch.no_grad():
        out = model(torch.ones(1, 4))
    result[uri] = {"out": out.tolist()[0], "class": type(model).__name__}
print(json.dumps(result))
"""


def _run(script: str, args: list[str], env: dict[str, str]) -> Any:
    clean = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    clean.update(env)
    clean["PYTHONPATH"] = str(REPO_ROOT)
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=clean,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_log_register_and_load_by_version_and_alias(mlflow_stack):
    """pickle returns the user's class; pt2 an exported program with the same outputs."""
    tag = uuid.uuid4().hex[:6]
    models = {"pickle": f"m-pickle-{tag}", "pt2": f"m-pt2-{tag}"}
    args = [x for fmt, name in models.items() for x in (name, fmt)]
    logged = _run(LOG, args, mlflow_stack.server.env_for(mlflow_stack.tokens["alice"]))
    for name in models.values():
        assert logged[name] == {"version": "1", "user": "alice"}
    uris = [f"models:/{name}/{ref}" for name in models.values() for ref in ("1", "@champion")]
    uris = [u.replace("/@", "@") for u in uris]
    # Bob loads Alice's models: everyone reads everything.
    loaded = _run(LOAD, uris, mlflow_stack.server.env_for(mlflow_stack.tokens["bob"]))
    for uri in uris:
        assert loaded[uri]["out"] == pytest.approx(logged["out"]), uri
    assert loaded[f"models:/{models['pickle']}/1"]["class"] == "TinyNet"
    assert loaded[f"models:/{models['pickle']}@champion"]["class"] == "TinyNet"

    # The files are in the bucket, under the configured prefix, next to the run.
    s3 = mlflow_stack.server.s3.client()
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=mlflow_stack.server.bucket, Prefix=mlflow_stack.server.prefix + "/"
        )
        for o in page.get("Contents", [])
    ]
    assert any(k.endswith("/MLmodel") for k in keys), keys[:20]
    assert all(k.startswith(mlflow_stack.server.prefix + "/") for k in keys)
