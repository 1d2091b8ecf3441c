"""One spelling per resource: the gate refuses every other way of writing a path.

The gate decides on the path MLflow will route and the artifact key MLflow will write, so a
path that two parsers could read differently (`%2F` that one decodes and the other keeps,
`..` that a router collapses, `%252e` that a later `unquote` turns into `.`, a backslash some
filesystems treat as a separator) is never passed on: it is refused with 400 and a message
naming the canonical form. Legitimate clients (MLflow's own, browsers) never send such paths.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

_ENCODED_SEPARATOR = re.compile(r"%(2[fF]|5[cC])")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE_OR_URL = re.compile(r"^[A-Za-z]:|://")


def _text_problem(value: str) -> str | None:
    if _CONTROL.search(value):
        return "contains a control character (NUL, tab, newline, ...)"
    if "\\" in value:
        return "contains a backslash; use '/' between folders"
    if _ESCAPE.search(value):
        return "is percent-encoded twice (a '%XX' is left after decoding); encode it once"
    return None


def _segments_problem(segments: list[str]) -> str | None:
    for segment in segments:
        if segment == "":
            return "contains an empty segment ('//')"
        if segment in (".", ".."):
            return f"contains a '{segment}' segment; write the path without it"
    return None


def url_path_problem(path: str, raw_path: bytes | None) -> str | None:
    """Why a request path is not in canonical form, or None when it is.

    `path` is the ASGI (decoded) path, `raw_path` the bytes on the wire. A single trailing '/'
    is left to the route table (a few MLflow routes end with one); everything else must be
    plain: no empty, '.' or '..' segments, no encoded separators, no double encoding.
    """
    if raw_path is not None:
        try:
            raw = raw_path.decode("ascii")
        except UnicodeDecodeError:
            return "contains bytes that are not percent-encoded"
        if _ENCODED_SEPARATOR.search(raw):
            return "encodes '/' or '\\' (%2F, %5C); send the path with plain '/'"
        try:
            decoded = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            return "is not UTF-8 once percent-decoded"
        if decoded != path:
            return "decodes to something else than the server received"
    if not path.startswith("/"):
        return "does not start with '/'"
    if problem := _text_problem(path):
        return problem
    inner = path[1:-1] if path.endswith("/") else path[1:]
    return _segments_problem(inner.split("/")) if inner else None


def relative_path_problem(value: str, *, allow_empty: bool = True) -> str | None:
    """Why an artifact path (a URL or query parameter) is not a plain relative path."""
    if value == "":
        return None if allow_empty else "is empty; name a file"
    if problem := _text_problem(value):
        return problem
    if value != value.strip(" "):
        return "starts or ends with a space (MLflow would strip it and write another key)"
    if value.startswith("/"):
        return "is absolute; give it relative to the artifact root"
    if _DRIVE_OR_URL.search(value):
        return "names a drive or a URL; give a path relative to the artifact root"
    if problem := _segments_problem(value.split("/")):
        return problem
    return _mlflow_reading_problem(value)


def _mlflow_reading_problem(value: str) -> str | None:
    """MLflow decodes an artifact path once more and re-parses it as a URL (dropping a '#...'
    tail, trimming spaces): only a path MLflow reads back unchanged is a key the gate can own."""
    from mlflow.exceptions import MlflowException
    from mlflow.utils.uri import validate_path_is_safe

    try:
        read = validate_path_is_safe(value)  # type: ignore[no-untyped-call]
    except (MlflowException, ValueError):
        return "is refused by MLflow's own path check ('#', a drive, an absolute path)"
    if read != value:
        return f"is read by MLflow as {read!r}; send exactly the path you mean"
    return None


def join_key(root: str, relative: str) -> str:
    """A storage key below `root` (both already canonical)."""
    if not root:
        return relative
    return f"{root}/{relative}" if relative else root
