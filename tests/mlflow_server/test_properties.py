"""Property tests: the gate and MLflow read every spelling of a path or an id the same way.

Unit properties (fast, thousands of cases) compare the gate's readings with MLflow's own
functions on generated input: whenever the gate accepts an artifact path, MLflow's
`validate_path_is_safe` refuses it or yields exactly that key; whenever the gate accepts a
body, the run id it checks is the one MLflow's handler would use. Live properties send
generated encodings and alias mixes as Bob to the real server and require a refusal that
leaves Alice's data unchanged.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
import re
from typing import Any
from urllib.parse import quote, unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podlab_mlflow.errors import Denied
from podlab_mlflow.messages import first_field, flask_request, parse_body
from podlab_mlflow.paths import relative_path_problem, url_path_problem
from tests.mlflow_server.stack_helpers import Stack
from tests.mlflow_server.victim import Victim, plant, snapshot

SEGMENTS = st.sampled_from(
    [
        "a",
        "b.txt",
        "artifacts",
        "..",
        ".",
        "",
        "%2e%2e",
        "%2f",
        "x%00",
        "a\\b",
        "é",
        " ",
        "#",
        "%41",
    ]
)
PATHS = st.lists(SEGMENTS, min_size=1, max_size=6).map("/".join)


def _encode(text: str, mask: list[bool]) -> str:
    """Percent-encode the characters the mask selects (as a client or an attacker might);
    a '%' already in the text stays, so '%2e' reaches the server as written."""
    out = []
    for i, ch in enumerate(text):
        encode = mask[i % len(mask)] if mask else False
        out.append("".join(f"%{b:02X}" for b in ch.encode()) if encode else quote(ch, safe="/%"))
    return "".join(out)


@settings(max_examples=3000, deadline=None)
@given(PATHS)
def test_an_accepted_artifact_path_is_exactly_the_key_mlflow_writes(path):
    from mlflow.exceptions import MlflowException
    from mlflow.utils.uri import validate_path_is_safe

    if relative_path_problem(path) is not None or path == "":
        return
    assert posixpath.normpath(path) == path
    try:
        mlflow_key = validate_path_is_safe(path)  # type: ignore[no-untyped-call]
    except MlflowException:
        return  # MLflow refuses it too: nothing is written
    assert mlflow_key == path


@settings(max_examples=3000, deadline=None)
@given(PATHS, st.lists(st.booleans(), max_size=8), st.booleans())
def test_an_accepted_url_path_is_one_plain_spelling(text, mask, trailing):
    """Bytes on the wire (segments written raw, some characters encoded once more): what the
    gate accepts decodes to a plain path that decoding again would not change."""
    wire = ("/" + text + ("/" if trailing else "")).encode("utf-8")
    raw = "".join(
        f"%{b:02X}" if (mask and mask[i % len(mask)]) or b > 0x7E or b < 0x21 else chr(b)
        for i, b in enumerate(wire)
    )
    decoded = unquote(raw)
    if url_path_problem(decoded, raw.encode("ascii")) is not None:
        return
    inner = decoded[1:-1] if decoded.endswith("/") else decoded[1:]
    assert inner == "" or all(seg not in ("", ".", "..") for seg in inner.split("/")), decoded
    assert unquote(decoded) == decoded, "nothing is left to decode a second time"
    assert "\\" not in decoded
    assert not re.search(r"[\x00-\x1f\x7f]", decoded)


RUN_FIELDS = ["run_id", "runId", "run_uuid", "runUuid"]
VICTIM, OWN = "a" * 32, "b" * 32


def _alias_body(draw: Any) -> bytes:
    keys = draw(st.lists(st.sampled_from(RUN_FIELDS), min_size=1, max_size=4))
    values = [draw(st.sampled_from([VICTIM, OWN, ""])) for _ in keys]
    pairs = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in zip(keys, values, strict=True)]
    pairs += ['"key": "note"', '"value": "x"']
    order = draw(st.permutations(pairs))
    text = "{" + ", ".join(order) + "}"
    if draw(st.booleans()):
        text = json.dumps(text)  # the double encoding old clients send
    return text.encode()


@settings(max_examples=2000, deadline=None)
@given(st.data())
def test_the_checked_run_id_is_the_one_mlflows_handler_uses(data):
    from mlflow.exceptions import MlflowException
    from mlflow.protos.service_pb2 import SetTag
    from mlflow.server import handlers

    body = _alias_body(data.draw)
    headers = [(b"content-type", b"application/json")]
    try:
        message = parse_body(SetTag, flask_request("POST", headers, b"", body), body)
    except Denied:
        gate_refused = True
    else:
        gate_refused = False
    try:
        theirs = handlers._get_request_message(  # type: ignore[no-untyped-call]
            SetTag(), flask_request=flask_request("POST", headers, b"", body)
        )
    except (MlflowException, ValueError):
        assert gate_refused, body  # whatever MLflow refuses, the gate refuses
        return
    if gate_refused:
        return  # stricter than MLflow (it swallows parse errors): refused, nothing runs
    assert first_field(message, ("run_id", "run_uuid")) == (theirs.run_id or theirs.run_uuid)


# -- live ------------------------------------------------------------------------------------
_VICTIMS: dict[str, Victim] = {}


@pytest.fixture
def victim(mlflow_stack: Stack) -> Victim:
    if "alice" not in _VICTIMS:
        _VICTIMS["alice"] = plant(mlflow_stack, "alice")
    return _VICTIMS["alice"]


HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@settings(max_examples=60, deadline=None, suppress_health_check=HEALTH)
@given(
    st.lists(st.booleans(), max_size=10),
    st.sampled_from(["", "./", "x/../", "/", "%2e/", "%252e%252e/"]),
    st.sampled_from(["model/weights.bin", "new.bin", "model"]),
)
def test_no_encoding_of_her_artifact_path_lets_bob_write(mlflow_stack, victim, mask, detour, leaf):
    before = snapshot(mlflow_stack, victim)
    exp, rest = victim.run_root.split("/", 1)
    path = f"/api/2.0/mlflow-artifacts/artifacts/{exp}/{detour}{rest}/{leaf}"
    target = _encode(path, mask)
    for method in ("PUT", "DELETE"):
        status, text = mlflow_stack.raw(method, target, "bob", b"overwritten", {})
        assert status in (400, 403, 404), (target, status, text[:200])
    assert snapshot(mlflow_stack, victim) == before


def _mlflow_reads_run(body: bytes) -> str | None:
    """The run MLflow's own handler code would tag for this body (None: it refuses it)."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.service_pb2 import SetTag
    from mlflow.server import handlers

    request = flask_request("POST", [(b"content-type", b"application/json")], b"", body)
    try:
        message = handlers._get_request_message(SetTag(), flask_request=request)  # type: ignore[no-untyped-call]
    except (MlflowException, ValueError):
        return None
    return str(message.run_id or message.run_uuid)


@pytest.fixture
def bobs_run(mlflow_stack: Stack, victim: Victim) -> str:
    if "bob" not in _VICTIMS:
        reply = mlflow_stack.call(
            "POST", "/api/2.0/mlflow/runs/create", "bob", {"experiment_id": victim.experiment_id}
        )
        _VICTIMS["bob"] = dataclasses.replace(victim, run_id=reply.json()["run"]["info"]["run_id"])
    return _VICTIMS["bob"].run_id


@settings(max_examples=60, deadline=None, suppress_health_check=HEALTH)
@given(st.data())
def test_no_alias_mix_lets_bob_tag_her_run(mlflow_stack, victim, bobs_run, data):
    before = snapshot(mlflow_stack, victim)
    body = _alias_body(data.draw)
    body = body.replace(VICTIM.encode(), victim.run_id.encode()).replace(
        OWN.encode(), bobs_run.encode()
    )
    status, reply = mlflow_stack.json("POST", "/api/2.0/mlflow/runs/set-tag", "bob", body)
    if _mlflow_reads_run(body) == victim.run_id:
        assert status in (400, 403), (body, status, reply)
    assert snapshot(mlflow_stack, victim) == before
