"""The gate reads an OTLP batch's traces as MLflow's `otel_api` does, in every encoding.

The ownership check of `POST /v1/traces` is only as good as this reading: the ids must be
the ones MLflow will write (`Span.from_otel_proto`), whatever the Content-Type and
Content-Encoding, and a batch the gate cannot read must be refused, not passed on.
"""

from __future__ import annotations

import gzip
import zlib

import pytest

from podlab_mlflow.errors import Denied
from podlab_mlflow.otlp import trace_ids
from tests.mlflow_server.families import otlp_body

TRACE = "tr-" + "ab" * 16
GZIP_PREFIX = gzip.compress(b"x", mtime=0)[:5]
"""The start of a gzip stream, with a fixed time (pytest-xdist needs the same test id in every
worker)."""


@pytest.mark.parametrize("encoding", ["protobuf", "json", "gzip"])
def test_the_trace_the_spans_name_is_found_in_every_encoding(encoding):
    body, headers = otlp_body(TRACE, encoding)
    named = dict(headers)
    assert trace_ids(body, named["Content-Type"], named.get("Content-Encoding", "")) == (TRACE,)


def test_spans_without_mlflow_attributes_get_mlflows_id_for_the_otel_trace():
    """Any OpenTelemetry SDK may export here: MLflow names such a trace after its OTel id."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id = bytes.fromhex("0123456789abcdef" * 2)
    span.span_id = bytes.fromhex("0011223344556677")
    span.name = "plain"
    body = request.SerializeToString()
    assert trace_ids(zlib.compress(body), "application/x-protobuf", "deflate") == (
        "tr-0123456789abcdef0123456789abcdef",
    )


@pytest.mark.parametrize(
    ("body", "content_type", "encoding", "reason"),
    [
        (b"", "application/x-protobuf", "", "holds no spans"),
        (b"\xff\xfe not protobuf", "application/x-protobuf", "", "not an OpenTelemetry batch"),
        (b"{not json", "application/json", "", "not an OpenTelemetry batch"),
        (GZIP_PREFIX, "application/x-protobuf", "gzip", "not an OpenTelemetry"),
        (b"x", "text/plain", "", "is not application/x-protobuf"),
        (b"x", "", "", "is not application/x-protobuf"),
    ],
)
def test_a_batch_the_gate_cannot_read_is_refused(body, content_type, encoding, reason):
    with pytest.raises(Denied) as refused:
        trace_ids(body, content_type, encoding)
    assert refused.value.status == 400
    assert reason in refused.value.message
