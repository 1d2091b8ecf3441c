"""Which MLflow endpoint a request reaches, found the way MLflow itself routes it.

MLflow's ASGI application tries its native FastAPI routes first (artifacts, OTLP, jobs,
gateway, ...) and hands everything else to its Flask app. The index below is built from those
same route objects at start-up: FastAPI paths are compiled with Starlette's own
`compile_path`, Flask paths are matched by the Flask app's own Werkzeug `Map`, so the gate and
MLflow cannot disagree about which handler runs. Each endpoint gets a stable key that the rule
table (`podlab_mlflow.rules`) is written against: the protobuf request message for MLflow's
REST endpoints (`mlflow.LogBatch`, the same under every `/api/...` prefix), `flask:<view>` for
other Flask views and `asgi:<module>.<function>` for FastAPI routes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import MapAdapter, RequestRedirect

READ_ALIASES = {"HEAD": "GET"}


@dataclass(frozen=True)
class Route:
    """A resolved request: the endpoint key, its path template and the URL parameters."""

    key: str
    template: str
    params: Mapping[str, str]
    message: Any = None  # the protobuf request class of MLflow REST endpoints


@dataclass(frozen=True)
class _AsgiRoute:
    key: str
    template: str
    methods: frozenset[str]
    regex: re.Pattern[str]


def _asgi_key(endpoint: Any) -> str:
    module = str(getattr(endpoint, "__module__", "")).removeprefix("mlflow.server.")
    return f"asgi:{module}.{getattr(endpoint, '__name__', repr(endpoint))}"


def _walk_asgi(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, frozenset[str], Any]]:
    from starlette.routing import Mount

    for route in routes:
        context = getattr(route, "include_context", None)
        if context is not None:
            yield from _walk_asgi(context.included_router.routes, prefix + context.prefix)
        elif isinstance(route, Mount):
            continue  # the Flask app at "/": matched below with its own Map
        elif getattr(route, "path", None) is not None and getattr(route, "endpoint", None):
            methods = frozenset(m.upper() for m in (getattr(route, "methods", None) or {"GET"}))
            yield prefix + route.path, methods, route.endpoint


class RouteIndex:
    """Resolve (method, canonical path) to the endpoint MLflow will run, or None."""

    def __init__(
        self,
        asgi: list[_AsgiRoute],
        flask_adapter: MapAdapter,
        protos: Mapping[str, Mapping[str, Any]],
        flask_rules: list[tuple[str, frozenset[str], str]],
    ) -> None:
        self._asgi = asgi
        self._flask = flask_adapter
        self._protos = protos
        self._flask_rules = flask_rules

    @classmethod
    def from_mlflow(cls) -> RouteIndex:
        from mlflow.server import app as flask_app
        from mlflow.server.fastapi_app import app as asgi_app
        from mlflow.server.handlers import get_endpoints
        from starlette.routing import compile_path

        protos: dict[str, dict[str, Any]] = {}
        endpoints = get_endpoints(lambda request_class: request_class)  # type: ignore[no-untyped-call]
        for template, message, methods in endpoints:
            if hasattr(message, "DESCRIPTOR"):
                for method in methods:
                    protos.setdefault(template, {})[method.upper()] = message
        asgi = [
            _AsgiRoute(_asgi_key(endpoint), template, methods, compile_path(template)[0])
            for template, methods, endpoint in _walk_asgi(list(asgi_app.routes))
        ]
        flask_rules = [
            (rule.rule, frozenset(rule.methods or ()), rule.endpoint)
            for rule in flask_app.url_map.iter_rules()
        ]
        adapter = flask_app.url_map.bind("mlflow", url_scheme="http")
        return cls(asgi, adapter, protos, flask_rules)

    def _flask_key(self, template: str, endpoint: str, method: str) -> tuple[str, Any]:
        by_method = self._protos.get(template, {})
        message = by_method.get(READ_ALIASES.get(method, method))
        if message is None and method == "OPTIONS" and by_method:
            message = next(iter(by_method.values()))
        if message is not None:
            return str(message.DESCRIPTOR.full_name), message
        return f"flask:{endpoint}", None

    def resolve(self, method: str, path: str) -> Route | None:
        method = method.upper()
        for route in self._asgi:
            if method in route.methods and (match := route.regex.match(path)):
                return Route(route.key, route.template, match.groupdict())
        try:
            rule, params = self._flask.match(path, method, return_rule=True)
        except RequestRedirect:
            return None  # a non-canonical spelling Werkzeug would redirect
        except HTTPException:
            return None  # no such route, or not with this method
        key, message = self._flask_key(rule.rule, str(rule.endpoint), method)
        return Route(key, rule.rule, {k: str(v) for k, v in params.items()}, message)

    def endpoints(self) -> list[tuple[str, str, str]]:
        """Every (method, template, key) MLflow serves: what the rule table must cover."""
        found = {(m, r.template, r.key) for r in self._asgi for m in r.methods}
        for template, methods, endpoint in self._flask_rules:
            for method in methods - {"HEAD", "OPTIONS"}:
                found.add((method, template, self._flask_key(template, endpoint, method)[0]))
        return sorted(found)
