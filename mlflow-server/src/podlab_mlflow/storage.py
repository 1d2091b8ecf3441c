"""The artifact store as the gate sees it: keys below the configured destination.

Every artifact MLflow proxies lives at `<destination>/<key>`; the gate reasons about the key.
A location recorded in MLflow (a run's artifact root, a logged model's location, a model
version's source) is usable only when it is a key of this store: `mlflow-artifacts:/<key>`
or this server's own `/api/2.0/mlflow-artifacts/artifacts/<key>` URL. Anything else
(`s3://other-bucket`, `file:///etc`, `http://elsewhere`) would make the server read or write
outside its store with its own credentials, so it is refused when a client tries to record it
and when a request would use it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from podlab_mlflow.paths import relative_path_problem

PROXY_ANCHOR = "/api/2.0/mlflow-artifacts/artifacts/"
RUN_SOURCE = re.compile(r"^runs:/(?P<run>[0-9a-f]{32})(?:/(?P<path>.*))?$")
MODEL_SOURCE = re.compile(r"^models:/(?P<rest>[^/].*)$")


def key_of_uri(uri: str) -> str | None:
    """The store key a recorded location names, or None when it is outside the store."""
    parts = urlsplit(uri)
    if parts.query or parts.fragment:
        return None
    if parts.scheme == "mlflow-artifacts":
        path = parts.path.lstrip("/")
    elif parts.scheme in ("http", "https") and PROXY_ANCHOR in parts.path:
        path = parts.path.split(PROXY_ANCHOR, 1)[1]
    else:
        return None
    path = unquote(path).rstrip("/")
    return None if relative_path_problem(path) else path


def artifact_location_problem(location: str) -> str | None:
    """Why an experiment may not use this artifact_location (None: it may)."""
    if location == "":
        return None
    if urlsplit(location).scheme != "mlflow-artifacts" or key_of_uri(location) is None:
        return (
            f"artifact_location {location!r} is outside this server's artifact store: leave it "
            "empty (the server uses mlflow-artifacts:/<experiment id>) or give "
            "mlflow-artifacts:/<relative path>"
        )
    return None


def model_source_problem(source: str) -> str | None:
    """Why a model version may not point at `source` (None: it may)."""
    if match := RUN_SOURCE.match(source):
        allowed = relative_path_problem(match.group("path") or "") is None
    elif MODEL_SOURCE.match(source):
        allowed = ".." not in source.split("/") and "\\" not in source
    else:
        allowed = urlsplit(source).scheme == "mlflow-artifacts" and key_of_uri(source) is not None
    if allowed:
        return None
    return (
        f"model version source {source!r} is outside this server's artifact store: use "
        "runs:/<run id>/<path>, models:/<model id> or mlflow-artifacts:/<path> (what "
        "mlflow.<flavor>.log_model(..., registered_model_name=...) sends)"
    )


class ArtifactStore:
    """Existence of keys in the destination, for telling 'missing' from 'broken'."""

    def __init__(self, destination: str, s3_endpoint_url: str = "") -> None:
        self.destination = destination.rstrip("/")
        self.s3_endpoint_url = s3_endpoint_url
        self._s3: Any = None

    @property
    def is_s3(self) -> bool:
        return self.destination.startswith("s3://")

    def _client(self) -> Any:
        if self._s3 is None:
            import boto3

            self._s3 = boto3.client("s3", endpoint_url=self.s3_endpoint_url or None)
        return self._s3

    def exists(self, key: str) -> bool:
        """True when an object (a file) is stored under `key`."""
        if not self.is_s3:
            return (Path(self.destination) / key).is_file()
        from botocore.exceptions import ClientError

        bucket, _, prefix = self.destination.removeprefix("s3://").partition("/")
        name = f"{prefix}/{key}" if prefix else key
        try:
            self._client().head_object(Bucket=bucket, Key=name)
        except ClientError as err:
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status in (403, 404) or err.response.get("Error", {}).get("Code") in (
                "404",
                "NoSuchKey",
                "NotFound",
            ):
                return False
            raise
        return True

    def local_path(self, key: str) -> str | None:
        """The file path of a key for a directory destination (None for S3)."""
        return None if self.is_s3 else os.path.join(self.destination, key)
