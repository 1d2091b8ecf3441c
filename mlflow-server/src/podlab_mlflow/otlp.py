"""The traces an OTLP export (`POST /v1/traces`) writes, found as MLflow's `otel_api` finds them.

MLflow accepts any OpenTelemetry batch: it decompresses the body by its Content-Encoding,
parses protobuf or JSON (turning hex ids into base64 first) and converts every span with
`Span.from_otel_proto`, whose trace id (`tr-` and the OpenTelemetry trace id; a client-sent
`mlflow.traceRequestId` is not trusted) names the trace row it creates or adds to. The gate
runs the same functions on the same bytes, so its ownership check looks at the traces MLflow
will write, and a batch it cannot read is refused rather than passed on unchecked.
"""

from __future__ import annotations

from podlab_mlflow.errors import bad_request

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


def trace_ids(body: bytes, content_type: str, content_encoding: str) -> tuple[str, ...]:
    """MLflow's ids of the traces the batch touches, in order, without repeats."""
    from google.protobuf.json_format import Parse  # type: ignore[import-untyped]
    from mlflow.entities.span import Span
    from mlflow.server.otel_api import _convert_otlp_json_ids_to_base64
    from mlflow.tracing.utils.otlp import decompress_otlp_body
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    media_type = content_type.split(";")[0].strip().lower()
    if media_type not in (PROTOBUF, JSON):
        raise bad_request(
            f"OTLP export: Content-Type {content_type or '(none)'!r} is not {PROTOBUF} or {JSON}"
        )
    request = ExportTraceServiceRequest()
    try:
        if content_encoding:
            body = decompress_otlp_body(body, content_encoding.lower())
        if media_type == JSON:
            Parse(_convert_otlp_json_ids_to_base64(body), request, ignore_unknown_fields=True)
        else:
            request.ParseFromString(body)
    except Exception as err:  # MLflow answers these with 400 as well
        raise bad_request(f"OTLP export: the body is not an OpenTelemetry batch ({err})") from err
    found: dict[str, None] = {}
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                try:
                    trace_id = Span.from_otel_proto(span, resource=resource_spans.resource).trace_id
                except Exception as err:
                    raise bad_request(
                        f"OTLP export: a span cannot be read as an MLflow span ({err})"
                    ) from err
                found[str(trace_id)] = None
    if not found:
        raise bad_request("OTLP export: the batch holds no spans")
    return tuple(found)
