"""What the hub's ServiceAccount must be allowed to do, derived from the code that runs.

Three sources, none of them a hand-written list:

1. KubeSpawner 7 (the installed package): every Kubernetes API call in its spawner module,
   found by reading its syntax tree, with the conditions that guard it (`if
   self.internal_ssl:`, `if not self.delete_pvc: return`, and the guards of its callers).
   The conditions are evaluated with the traits podlab's `configure_kubespawner` sets, so a
   call podlab switches off (deleting PVCs, per-pod Services and Secrets) needs no
   permission. Client method names become (group, resource, verb) through the REST path the
   kubernetes_asyncio client itself would request. Reflectors list and watch their kind.
2. podlab's ensure step: the objects `podlab.k8s.namespace_objects` builds (their REST path
   from `podlab.k8s.ensure.api_path`) and the HTTP methods `apply_objects` sends; a
   server-side apply also creates the object when it is missing.
3. The per-user Role the ensure step applies: Kubernetes only lets the hub grant what it
   holds itself (the chart gives no `escalate`/`bind`).
4. podlab's own spawner (`podlab.kubespawner_config`): its `self.api` calls, e.g. the nodes
   and pods it reads to tell which profiles can start.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_asyncio.client as k8s_client
import kubespawner.spawner
from traitlets import Undefined
from traitlets.config import Config

from podlab import kubespawner_config
from podlab.config import PodlabConfig
from podlab.k8s import claim, ensure, namespace_objects
from podlab.kubespawner_config import PodlabKubeSpawner, configure_kubespawner

Permission = tuple[str, str, str]
"""(apiGroup, resource, verb)"""

_VERBS = {
    "create": "create",
    "read": "get",
    "delete": "delete",
    "patch": "patch",
    "replace": "update",
    "list": "list",
}
_HTTP_VERBS = {
    "GET": "get",
    "POST": "create",
    "PATCH": "patch",
    "PUT": "update",
    "DELETE": "delete",
}
_API_CLASSES = [k8s_client.CoreV1Api, k8s_client.NetworkingV1Api, k8s_client.RbacAuthorizationV1Api]


# -- (1) KubeSpawner ---------------------------------------------------------------------------
def kubespawner_permissions(config: PodlabConfig) -> set[Permission]:
    traits = _effective_traits(config)
    source = Path(inspect.getfile(kubespawner.spawner)).read_text()
    tree = ast.parse(source)
    functions = _functions(tree)
    required: set[Permission] = set()
    for call in _api_calls(functions):
        if _reachable(call["function"], call["guards"], functions, traits, set()):
            required |= {_permission(method) for method in call["methods"]}
    for kind in _reflector_kinds(tree):
        resource = kind
        required |= {("", resource, "list"), ("", resource, "watch")}
    return required


def _effective_traits(config: PodlabConfig) -> dict[str, Any]:
    c = Config()
    configure_kubespawner(c, config)
    values: dict[str, Any] = {}
    for name, trait in PodlabKubeSpawner.class_traits().items():
        if name in c.PodlabKubeSpawner:
            values[name] = c.PodlabKubeSpawner[name]
        else:
            default = trait.default_value
            values[name] = None if default is Undefined else default
    return values


def _functions(tree: ast.Module) -> dict[str, ast.AST]:
    found: dict[str, ast.AST] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.setdefault(node.name, node)
    return found


def _parents(root: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(root) for child in ast.iter_child_nodes(node)}


def _guards(node: ast.AST, function: ast.AST) -> list[tuple[ast.expr, bool]]:
    """(condition, must_be) pairs that hold wherever `node` runs inside `function`."""
    parents = _parents(function)
    guards: list[tuple[ast.expr, bool]] = []
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, ast.If):
            if child in parent.body:
                guards.append((parent.test, True))
            elif child in parent.orelse:
                guards.append((parent.test, False))
        # `if cond: return` earlier in the same block: we only get here when cond is false.
        for field in ("body", "orelse", "finalbody"):
            block = getattr(parent, field, None)
            if isinstance(block, list) and child in block:
                for earlier in block[: block.index(child)]:
                    if (
                        isinstance(earlier, ast.If)
                        and earlier.body
                        and isinstance(earlier.body[-1], ast.Return)
                        and not earlier.orelse
                    ):
                        guards.append((earlier.test, False))
        if parent is function:
            break
        child, parent = parent, parents.get(parent)
    return guards


def _api_calls(functions: dict[str, ast.AST]) -> Iterator[dict[str, Any]]:
    """Each API call site: the client methods it may invoke, its function and guards."""
    templated = _templated_callers(functions)
    for name, function in functions.items():
        for node in ast.walk(function):
            methods: list[str] = []
            if (
                isinstance(node, ast.Attribute)
                and _is_api(node.value)
                and re.match(r"^(create|read|delete|patch|replace|list)_", node.attr)
            ):
                methods = [node.attr]
            elif isinstance(node, ast.Call) and _getattr_template(node) is not None:
                template = _getattr_template(node)
                assert template is not None
                methods = [template.format(kind=kind) for kind in templated.get(name, [])]
            if methods:
                yield {"function": name, "methods": methods, "guards": _guards(node, function)}


def _is_api(node: ast.expr) -> bool:
    """`self.api` or a local `api` (KubeSpawner binds `api = self.api`)."""
    return (isinstance(node, ast.Attribute) and node.attr == "api") or (
        isinstance(node, ast.Name) and node.id == "api"
    )


def _getattr_template(node: ast.Call) -> str | None:
    """`getattr(self.api, f"delete_namespaced_{kind}")` -> "delete_namespaced_{kind}"."""
    if not (isinstance(node.func, ast.Name) and node.func.id == "getattr" and len(node.args) == 2):
        return None
    target, name = node.args
    if not _is_api(target) or not isinstance(name, ast.JoinedStr):
        return None
    parts = []
    for value in name.values:
        if isinstance(value, ast.Constant):
            parts.append(str(value.value))
        elif isinstance(value, ast.FormattedValue) and isinstance(value.value, ast.Name):
            parts.append("{" + value.value.id + "}")
    return "".join(parts)


def _templated_callers(functions: dict[str, ast.AST]) -> dict[str, list[str]]:
    """For functions that pick the API method by a `kind` argument: the kinds passed to them
    anywhere (`partial(self._ensure_not_exists, "secret", ...)` or a direct call)."""
    kinds: dict[str, list[str]] = {}
    for function in functions.values():
        for node in ast.walk(function):
            if not isinstance(node, ast.Call):
                continue
            target, args = node.func, node.args
            if isinstance(target, ast.Name) and target.id == "partial" and args:
                target, args = args[0], args[1:]
            if (
                isinstance(target, ast.Attribute)
                and args
                and isinstance(args[0], ast.Constant)
                and isinstance(args[0].value, str)
            ):
                kinds.setdefault(target.attr, []).append(args[0].value)
    return kinds


def _reachable(
    name: str,
    guards: list[tuple[ast.expr, bool]],
    functions: dict[str, ast.AST],
    traits: dict[str, Any],
    visiting: set[str],
) -> bool:
    """Whether code with these guards in function `name` can run under podlab's traits."""
    if any(_evaluate(test, traits) is (not must_be) for test, must_be in guards):
        return False
    sites = list(_references(name, functions))
    if not sites or name in visiting or name in ("start", "stop", "delete_forever"):
        return True  # an entry point JupyterHub calls (or a cycle): reachable
    return any(
        _reachable(caller, _guards(node, functions[caller]), functions, traits, visiting | {name})
        for caller, node in sites
    )


def _references(name: str, functions: dict[str, ast.AST]) -> Iterator[tuple[str, ast.AST]]:
    for caller, function in functions.items():
        for node in ast.walk(function):
            if isinstance(node, ast.Attribute) and node.attr == name and caller != name:
                yield caller, node


def _evaluate(test: ast.expr, traits: dict[str, Any]) -> bool | None:
    """True/False for conditions on `self.<trait>`; None when the code decides at run time."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = _evaluate(test.operand, traits)
        return None if inner is None else not inner
    if isinstance(test, ast.BoolOp):
        values = [_evaluate(v, traits) for v in test.values]
        if isinstance(test.op, ast.And):
            if False in values:
                return False
            return None if None in values else True
        if True in values:
            return True
        return None if None in values else False
    if (
        isinstance(test, ast.Attribute)
        and isinstance(test.value, ast.Name)
        and test.value.id == "self"
        and test.attr in traits
        and isinstance(traits[test.attr], bool | type(None))
    ):
        value = traits[test.attr]
        return bool(value)
    return None


def _reflector_kinds(tree: ast.Module) -> set[str]:
    """`kind = "pods"` in reflector classes and `_start_reflector(kind="events", ...)`."""
    kinds: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(
            isinstance(b, ast.Name) and b.id.endswith("Reflector") for b in node.bases
        ):
            for statement in node.body:
                if (
                    isinstance(statement, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == "kind" for t in statement.targets)
                    and isinstance(statement.value, ast.Constant)
                ):
                    kinds.add(str(statement.value.value))
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "kind" and isinstance(keyword.value, ast.Constant):
                    kinds.add(str(keyword.value.value))
    return kinds


def _permission(method: str) -> Permission:
    """A client method -> (group, resource, verb), from the REST path the client requests."""
    verb = _VERBS[method.split("_", 1)[0]]
    for api in _API_CLASSES:
        function = getattr(api, f"{method}_with_http_info", None) or getattr(api, method, None)
        if function is None:
            continue
        paths = re.findall(r"'(/apis?/[^']*)'", inspect.getsource(function))
        if paths:
            return _path_permission(paths[0], verb)
    raise LookupError(f"no kubernetes_asyncio client method {method}")


def _path_permission(path: str, verb: str) -> Permission:
    """/api/v1/namespaces/{namespace}/pods -> ("", "pods"); /apis/g/v/... -> ("g", ...)."""
    parts = [p for p in path.split("/") if p]
    group = "" if parts[0] == "api" else parts[1]
    rest = parts[2:] if parts[0] == "api" else parts[3:]
    if rest[:1] == ["namespaces"] and len(rest) > 2:
        rest = rest[2:]
    names = [p for p in rest if not p.startswith("{")]
    return (group, "/".join(names), verb)


# -- (2) the ensure step -----------------------------------------------------------------------
def ensure_permissions(config: PodlabConfig) -> set[Permission]:
    methods = _ensure_http_methods(ensure)
    required: set[Permission] = set()
    objects = namespace_objects(
        config, username="someone", namespace_name="podlab-someone", platform_namespace="podlab"
    )
    for manifest in objects:
        path = ensure.api_path(manifest).rsplit("/", 1)[0]  # the collection, not the object
        for method in methods:
            verb = _HTTP_VERBS[method]
            required.add(_path_permission(path, verb))
            if method == "PATCH" and ensure.APPLY_CONTENT_TYPE == "application/apply-patch+yaml":
                # Server-side apply of a missing object creates it: also authorised as create.
                required.add(_path_permission(path, "create"))
    # The ownership check reads the user's Namespace (and nothing else) before applying.
    namespace = next(m for m in objects if m["kind"] == "Namespace")
    for method in _ensure_http_methods(claim):
        path = ensure.api_path(namespace).rsplit("/", 1)[0]
        required.add(_path_permission(path, _HTTP_VERBS[method]))
    return required


def _ensure_http_methods(module: Any) -> set[str]:
    tree = ast.parse(inspect.getsource(module))
    methods = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "call_api"
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
        ):
            methods.add(str(node.args[1].value))
    assert methods, f"{module.__name__} makes no call_api call: update this derivation"
    return methods


# -- (3) what the per-user Role grants -------------------------------------------------------
def granted_to_users(config: PodlabConfig) -> set[Permission]:
    objects = namespace_objects(
        config, username="someone", namespace_name="podlab-someone", platform_namespace="podlab"
    )
    return set(expand(r for o in objects if o["kind"] == "Role" for r in o["rules"]))


def expand(rules: Iterable[dict[str, Any]]) -> Iterator[Permission]:
    for rule in rules:
        for group in rule.get("apiGroups", [""]):
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    yield (group, resource, verb)


# -- (4) podlab's spawner ----------------------------------------------------------------------
def podlab_spawner_permissions() -> set[Permission]:
    tree = ast.parse(inspect.getsource(kubespawner_config))
    calls = {m for call in _api_calls(_functions(tree)) for m in call["methods"]}
    assert calls, "podlab.kubespawner_config makes no API call: update this derivation"
    return {_permission(method) for method in calls}


def required_permissions(config: PodlabConfig) -> dict[Permission, set[str]]:
    """Every permission the hub needs, with the reasons (for readable test failures)."""
    reasons: dict[Permission, set[str]] = {}
    for source, permissions in (
        ("KubeSpawner", kubespawner_permissions(config)),
        ("ensure step", ensure_permissions(config)),
        ("per-user Role", granted_to_users(config)),
        ("podlab's spawner", podlab_spawner_permissions()),
    ):
        for permission in permissions:
            reasons.setdefault(permission, set()).add(source)
    return reasons
