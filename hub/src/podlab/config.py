"""The one source of truth: the `podlab:` section of the chart values, or a local podlab.yaml.

Both spawners (KubeSpawner on Kubernetes, the local spawner for `make up`), the culler and the
render/validate CLIs read these models; nothing else parses the file. Bad input is rejected
with messages that name the field path, the bad value and what is allowed, because the admin
who reads them is usually looking at a failed `helm upgrade` or a hub that refused to start.
"""

from __future__ import annotations

import ipaddress
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from podlab import __version__
from podlab.quantities import (
    CPU_HELP,
    DURATION_HELP,
    QUANTITY_HELP,
    parse_bytes,
    parse_cpu,
    parse_duration,
)

ACCEPTS = "x-podlab-accepts"
"""Schema keyword of the custom types below: what spellings they take, for the field docs.

The chart's schema generator moves it into each field's description (Helm ignores unknown
keywords, but the values reference should say it once, in words)."""

DEFAULT_IMAGE = f"podlab/singleuser:{__version__}"
"""The single-user image of this release: the model's default, and what the chart's
values.yaml and hub/examples/podlab.yaml name (tests/hub/test_config.py checks they agree)."""
DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"
"""The extended resource GPUs are requested as (NVIDIA's device plugin)."""


def _quantity(value: Any) -> str:
    parse_bytes(value)
    return str(value)


def _duration(value: Any) -> int:
    return parse_duration(value)


def _cpu(value: Any) -> float:
    return parse_cpu(value)


# The validators accept spellings pydantic cannot describe; WithJsonSchema gives the chart's
# schema the same spellings (tests/chart/test_schema.py feeds both the same values).
Quantity = Annotated[
    str,
    BeforeValidator(_quantity),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {
                    "type": "string",
                    "pattern": r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$",
                },
            ],
            ACCEPTS: f"Accepts {QUANTITY_HELP}.",
        }
    ),
]
"""A memory/storage quantity kept as written ("8Gi"): Kubernetes wants the string back."""
Seconds = Annotated[
    int,
    BeforeValidator(_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "pattern": r"^([0-9]+|([0-9]+[smhdw])+)$"},
            ],
            ACCEPTS: f"Accepts {DURATION_HELP} (a bare number is seconds).",
        }
    ),
]
"""A duration ("30m") stored as seconds."""
Cores = Annotated[
    float,
    BeforeValidator(_cpu),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0},
                {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?m?$"},
            ],
            ACCEPTS: f"Accepts {CPU_HELP}.",
        }
    ),
]


def _cidr(value: Any) -> str:
    try:
        return str(ipaddress.ip_network(str(value), strict=True))
    except ValueError:
        raise ValueError(
            "expected a CIDR such as 10.0.0.0/16 or 10.1.2.3/32 (address bits after the "
            "prefix must be zero)"
        ) from None


Cidr = Annotated[
    str,
    BeforeValidator(_cidr),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[0-9a-fA-F:.]+/[0-9]{1,3}$",
            ACCEPTS: "A CIDR such as 10.0.0.0/16.",
        }
    ),
]
"""An IPv4/IPv6 network in CIDR notation, normalised ("10.0.0.0/16")."""
Port = Annotated[int, Field(ge=1, le=65535)]
DNS_LABEL_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
Slug = Annotated[str, Field(pattern=DNS_LABEL_PATTERN)]
"""A profile slug is a DNS label: it ends up in object names and labels."""


# Kubernetes' rule for annotation keys (ValidateAnnotations: IsQualifiedName of the lower-cased
# key): [prefix/]name, a DNS-subdomain prefix of at most 253 characters, a name of at most 63
# letters, digits, '-', '_', '.', starting and ending alphanumeric. The chart's own annotation
# values use the same patterns (tests/chart/test_schema.py compares them).
ANNOTATION_KEY_PATTERNS = (
    r"^([A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$",
    r"^([^/]{1,253}/)?[^/]{1,63}$",
)


def _annotations(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        if not all(re.fullmatch(pattern, key) for pattern in ANNOTATION_KEY_PATTERNS):
            raise ValueError(
                f"{key!r} is not a valid annotation key; write [prefix/]name with a "
                "DNS-subdomain prefix and a name of at most 63 letters, digits, '-', '_', '.'"
            )
    return value


Annotations = Annotated[
    dict[str, str],
    AfterValidator(_annotations),
    WithJsonSchema(
        {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "propertyNames": {"allOf": [{"pattern": p} for p in ANNOTATION_KEY_PATTERNS]},
        }
    ),
]
"""Kubernetes annotations: checked when the config loads, not at every user's first spawn."""


class _Model(BaseModel):
    """Strict and immutable: unknown keys are typos, and a loaded config never changes.

    Fields are documented by the docstring under them: it becomes the field's description in
    the chart's values.schema.json and the admin guide's values reference. Only the names the
    chart's schema accepts (the aliases) are accepted, so podlab.yaml and Helm agree.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class CpuSpec(_Model):
    guarantee: Cores
    """Cores reserved for the server (the pod's request)."""
    limit: Cores
    """Cores the server may use at most."""

    @model_validator(mode="after")
    def _guarantee_within_limit(self) -> CpuSpec:
        if self.guarantee > self.limit:
            raise ValueError(f"guarantee {self.guarantee:g} exceeds limit {self.limit:g}")
        return self


class MemorySpec(_Model):
    guarantee: Quantity
    """Memory reserved for the server (the pod's request)."""
    limit: Quantity
    """Memory the server may use at most (exceeding it kills the kernel)."""

    @property
    def guarantee_bytes(self) -> int:
        return parse_bytes(self.guarantee)

    @property
    def limit_bytes(self) -> int:
        return parse_bytes(self.limit)

    @model_validator(mode="after")
    def _guarantee_within_limit(self) -> MemorySpec:
        if self.guarantee_bytes > self.limit_bytes:
            raise ValueError(f"guarantee {self.guarantee} exceeds limit {self.limit}")
        return self


class GpuSpec(_Model):
    count: Annotated[int, Field(ge=0, le=16)] = 1
    """Number of GPUs (0..16)."""
    resource: Annotated[str, Field(pattern=r"^[a-z0-9.-]+/[a-z0-9._-]+$")] = DEFAULT_GPU_RESOURCE
    """Extended resource name of the GPU."""


class Toleration(_Model):
    """A Kubernetes toleration, spelled as in a pod spec (tolerationSeconds in camelCase)."""

    key: str | None = None
    """Taint key (null with operator Exists: every taint)."""
    operator: Literal["Exists", "Equal"] = "Equal"
    """Exists or Equal."""
    value: str | None = None
    """Taint value (operator Equal)."""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    """Taint effect (null: every effect)."""
    toleration_seconds: int | None = Field(default=None, alias="tolerationSeconds")
    """How long a NoExecute taint is tolerated."""

    def to_k8s(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class Profile(_Model):
    slug: Slug
    """Stable identifier (DNS label); users' choices and quotas refer to it."""
    display_name: Annotated[str, Field(min_length=1, max_length=200)]
    """Name shown in the profile list."""
    description: str = ""
    """Human description shown under the name."""
    default: bool = False
    """Preselected profile (at most one)."""
    cpu: CpuSpec
    """CPU cores: guarantee (request) and limit."""
    memory: MemorySpec
    """Memory: guarantee (request) and limit."""
    gpu: GpuSpec | None = None
    """GPUs for the server (null: none)."""
    node_selector: dict[str, str] = Field(default_factory=dict)
    """Node labels the server must run on (e.g. a GPU node group)."""
    tolerations: list[Toleration] = Field(default_factory=list)
    """Tolerations of the server pod (e.g. for tainted GPU nodes)."""
    image: str | None = None
    """Single-user image of this profile (null: default_image)."""
    idle_timeout: Seconds | None = None
    """Idle time before the server is stopped (null: culling default)."""
    max_age: Seconds | None = None
    """Maximum server lifetime, idle or not (null: unlimited)."""
    start_timeout: Seconds | None = None
    """How long a server may take to start (null: the hub's default 60 s; a GPU node started from
    zero takes minutes)."""
    # A scale-up hint: while fewer matching nodes exist than the node group's cluster-autoscaler
    # maximum, a new one can be started for a server.
    max_nodes: Annotated[int, Field(ge=1)] | None = None
    """Maximum size of the node group for this profile (cluster autoscaler): a scale-up hint."""
    # A GPU group at min size 0 has no node at all: with no matching node, the profile still
    # counts as startable.
    scales_from_zero: bool = False
    """The profile's node group can start its first node on demand."""

    @property
    def gpu_count(self) -> int:
        return self.gpu.count if self.gpu else 0


class StorageConfig(_Model):
    home_size: Quantity = "20Gi"
    """Size of each user's home volume."""
    storage_class: str | None = None
    """StorageClass of home volumes (null: the cluster default)."""


class CullingConfig(_Model):
    enabled: bool = True
    """Stop idle servers (their home volumes are kept)."""
    default_idle_timeout: Seconds = 3600
    """Idle time before a server is stopped."""
    check_every: Seconds = 300
    """How often the culler looks for idle servers."""
    gpu_busy_threshold: Annotated[int, Field(ge=0, le=100)] = 10
    """GPU utilisation (percent) at or above which a server counts as busy."""


class MlflowIntegration(_Model):
    url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    """Tracking URI given to user servers (null: the chart fills in its MLflow Service)."""


class S3Integration(_Model):
    region: str | None = None
    """AWS region (null: the cluster's)."""
    shared_bucket: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")] | None = (
        None
    )
    """Bucket with users/<namespace>/ (private) and shared/ prefixes (terraform output)."""
    endpoint_url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    """For S3-compatible stores; None means AWS S3."""


class SqlIntegration(_Model):
    engine: Literal["trino", "presto"]
    """trino or presto."""
    host: Annotated[str, Field(min_length=1)]
    """Coordinator host."""
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    """Coordinator port."""
    catalog: str | None = None
    """Default catalog."""
    schema_name: str | None = Field(default=None, alias="schema")
    """Default schema."""
    http_scheme: Literal["http", "https"] = "http"
    """http or https."""
    auth: Literal["none", "basic", "jwt"] = "none"
    """none, basic or jwt."""


class SparkIntegration(_Model):
    mode: Literal["connect", "standalone", "kubernetes"]
    """connect, standalone or kubernetes (executors in the user namespace)."""
    url: str | None = None
    """sc://host:port for connect, spark://host:port for standalone; for kubernetes the API
    server (default https://kubernetes.default.svc)."""
    executor_image: str | None = None
    """Executor image for mode kubernetes."""
    executor_instances: Annotated[int, Field(ge=1, le=100)] = 2
    """Executors per session for mode kubernetes."""

    @model_validator(mode="after")
    def _url_matches_mode(self) -> SparkIntegration:
        expected = {"connect": "sc://", "standalone": "spark://"}.get(self.mode)
        if expected and not (self.url or "").startswith(expected):
            raise ValueError(
                f"mode {self.mode!r} needs url starting with {expected} (got {self.url!r})"
            )
        return self


class GitIntegration(_Model):
    enabled: bool = True
    """Configure git user.name/user.email from the hub user."""
    email_domain: str | None = None
    """Commit e-mail is <username>@<email_domain>; None uses <username>@users.noreply.podlab."""


class EnvloggerIntegration(_Model):
    enabled: bool = True
    """Preconfigure envlogger in user servers."""


class DnsPeer(_Model):
    """Where cluster DNS runs (CoreDNS on EKS: kube-system pods labelled k8s-app=kube-dns)."""

    namespace: Annotated[str, Field(pattern=DNS_LABEL_PATTERN)] = "kube-system"
    """Namespace of the DNS pods."""
    pod_labels: dict[str, str] = Field(default_factory=lambda: {"k8s-app": "kube-dns"})
    """Labels of the DNS pods."""


class DatabaseEndpoint(_Model):
    """The hub/MLflow PostgreSQL server: user pods may never reach it."""

    cidr: Cidr
    """Network of the database server (e.g. the RDS subnets)."""
    port: Port = 5432
    """Database port."""


class NetworkRule(_Model):
    """An extra peer for user pods: a CIDR and the ports (none listed = every port)."""

    cidr: Cidr
    """Network of the peer."""
    ports: list[Port] = Field(default_factory=list)
    """TCP ports (none listed: every port)."""


class NetworkConfig(_Model):
    """What the per-user NetworkPolicy needs that the integration URLs cannot say."""

    platform_namespace: Annotated[str, Field(pattern=DNS_LABEL_PATTERN)] | None = None
    """Namespace of the hub, proxy and MLflow; None means the namespace the hub runs in."""
    hub_port: Port = 8081
    """Port of the hub API user servers call."""
    dns: DnsPeer = Field(default_factory=DnsPeer)
    """Where cluster DNS runs (user pods may query it)."""
    private_cidrs: list[Cidr] = Field(
        default_factory=lambda: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"]
    )
    """Cluster/VPC ranges: reachable only through explicit rules, so other namespaces are not."""
    internet: bool = True
    """Allow egress to every address outside private_cidrs (AWS S3, package indexes)."""
    database: DatabaseEndpoint | None = None
    """The hub/MLflow database server: user pods are denied it (and the chart's hub and MLflow
    NetworkPolicies allow it)."""
    kubernetes_api_cidrs: list[Cidr] = Field(default_factory=list)
    """API server endpoint addresses, opened on 443/6443 only for spark.mode kubernetes."""
    egress: list[NetworkRule] = Field(default_factory=list)
    """Extra destinations user pods may reach."""
    ingress: list[NetworkRule] = Field(default_factory=list)
    """Extra sources that may reach user pods."""

    @model_validator(mode="after")
    def _database_stays_closed(self) -> NetworkConfig:
        if self.database is None:
            return self
        database = ipaddress.ip_network(self.database.cidr)
        for index, rule in enumerate(self.egress):
            network = ipaddress.ip_network(rule.cidr)
            if _inside(network, database):
                raise ValueError(
                    f"network.egress[{index}].cidr: {rule.cidr} lies inside "
                    f"network.database.cidr ({self.database.cidr}), the hub database, which "
                    "user pods must never reach; remove the rule or narrow it"
                )
        return self


def _inside(
    inner: ipaddress.IPv4Network | ipaddress.IPv6Network,
    outer: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> bool:
    if isinstance(inner, ipaddress.IPv4Network) and isinstance(outer, ipaddress.IPv4Network):
        return inner.subnet_of(outer)
    if isinstance(inner, ipaddress.IPv6Network) and isinstance(outer, ipaddress.IPv6Network):
        return inner.subnet_of(outer)
    return False


class UserServiceAccount(_Model):
    """The podlab-user ServiceAccount the hub creates in every user namespace."""

    annotations: Annotations = Field(default_factory=dict)
    """Annotations of every user's ServiceAccount, e.g. eks.amazonaws.com/role-arn for IRSA (trust
    policy on system:serviceaccount:podlab-*:podlab-user)."""


class Integrations(_Model):
    mlflow: MlflowIntegration = Field(default_factory=MlflowIntegration)
    """The MLflow tracking server user servers log to."""
    s3: S3Integration = Field(default_factory=S3Integration)
    """S3 (or S3-compatible) access of user servers."""
    sql: SqlIntegration | None = None
    """Trino or Presto (null: none)."""
    spark: SparkIntegration | None = None
    """Spark: Connect, standalone, or executors in the user's namespace."""
    git: GitIntegration = Field(default_factory=GitIntegration)
    """Git identity of users."""
    envlogger: EnvloggerIntegration = Field(default_factory=EnvloggerIntegration)
    """Environment capture on MLflow runs."""


class PodlabConfig(_Model):
    profiles: Annotated[list[Profile], Field(min_length=1)]
    """Machine profiles users choose from (at least one; slugs unique)."""
    default_image: str = DEFAULT_IMAGE
    """Single-user image for profiles that set no image."""
    admin_users: list[str] = Field(default_factory=list)
    """Hub user names that are admins."""
    storage: StorageConfig = Field(default_factory=StorageConfig)
    """Home directories (one PVC per user, never deleted by podlab)."""
    culling: CullingConfig = Field(default_factory=CullingConfig)
    """The idle culler (a hub-managed service in the hub pod)."""
    integrations: Integrations = Field(default_factory=Integrations)
    """What user servers are preconfigured to reach."""
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    """The per-user namespace NetworkPolicy the hub creates."""
    user_service_account: UserServiceAccount = Field(default_factory=UserServiceAccount)
    """The ServiceAccount of user servers (its IRSA role, for example)."""

    @model_validator(mode="after")
    def _profiles_consistent(self) -> PodlabConfig:
        seen: dict[str, int] = {}
        for index, profile in enumerate(self.profiles):
            if profile.slug in seen:
                raise ValueError(duplicate_slug(index, profile.slug, seen[profile.slug]))
            seen[profile.slug] = index
        defaults = [p.slug for p in self.profiles if p.default]
        if len(defaults) > 1:
            raise ValueError(
                f"profiles: {len(defaults)} profiles say default: true ({', '.join(defaults)}); "
                "mark at most one"
            )
        return self

    # -- derived views used by both spawners -----------------------------------------------------
    @property
    def default_profile(self) -> Profile:
        return next((p for p in self.profiles if p.default), self.profiles[0])

    def profile(self, slug: str) -> Profile:
        """The profile with this slug; ConfigError lists the valid ones otherwise."""
        for profile in self.profiles:
            if profile.slug == slug:
                return profile
        valid = ", ".join(p.slug for p in self.profiles)
        raise ConfigError([f"unknown profile {slug!r}; choose one of: {valid}"])

    def image_for(self, profile: Profile) -> str:
        return profile.image or self.default_image

    def idle_timeout_for(self, profile: Profile) -> int:
        return profile.idle_timeout or self.culling.default_idle_timeout


def duplicate_slug(index: int, slug: str, first: int) -> str:
    """The duplicate-slug message, without the leading `podlab.`; the chart's validation
    (_helpers-validation.tpl) prints the same text (tests/chart/test_schema.py checks)."""
    return (
        f"profiles[{index}].slug: duplicate slug {slug!r} (also podlab.profiles[{first}]); "
        "every profile needs a unique slug"
    )


class ConfigError(ValueError):
    """Invalid podlab config; `errors` holds one line per problem, each naming its field."""

    def __init__(self, errors: list[str], source: str | None = None) -> None:
        self.errors = errors
        self.source = source
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  - {e}" for e in errors)
        super().__init__(f"invalid podlab config{where}:\n{lines}")


def parse_config(data: Any, source: str | None = None) -> PodlabConfig:
    """Validate a mapping (the `podlab:` section, or a document that contains one)."""
    if isinstance(data, Mapping) and "podlab" in data:
        data = data["podlab"]
    if not isinstance(data, Mapping):
        raise ConfigError(
            [f"podlab: expected a mapping with at least 'profiles', got {type(data).__name__}"],
            source,
        )
    try:
        return PodlabConfig.model_validate(dict(data))
    except ValidationError as err:
        raise ConfigError(_explain(err, data), source) from None


def load_config(path: str | Path) -> PodlabConfig:
    """Read and validate a podlab.yaml or a chart values file with a `podlab:` section."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError([f"cannot read {path}: {err.strerror}"], str(path)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError([f"not valid YAML: {err}"], str(path)) from None
    return parse_config(data, str(path))


# -- error messages ---------------------------------------------------------------------------
def _explain(err: ValidationError, data: Mapping[str, Any]) -> list[str]:
    lines = []
    for problem in err.errors():
        loc = tuple(problem["loc"])
        path = _path(loc, data)
        message = str(problem["msg"]).removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            allowed = ", ".join(_allowed_fields(loc[:-1]))
            lines.append(f"{path}: unknown field; allowed here: {allowed}")
            continue
        if problem["type"] == "missing":
            lines.append(f"{path}: required field is missing")
            continue
        if message.startswith(("profiles[", "profiles:", "network.")):
            lines.append(f"podlab.{message}")  # cross-profile checks name their own field
            continue
        value = problem.get("input")
        shown = "" if isinstance(value, Mapping | list) else f" (got {value!r})"
        lines.append(f"{path}: {message}{shown}")
    return lines


def _path(loc: tuple[Any, ...], data: Mapping[str, Any]) -> str:
    """podlab.profiles[1](gpu-1).memory.limit — the slug helps find the profile in the file."""
    out = "podlab"
    node: Any = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, Mapping) and isinstance(node.get("slug"), str):
                out += f"({node['slug']})"
        elif part != "[key]":  # a mapping's key: the key itself precedes it
            out += f".{part}"  # pydantic reports the alias, the name the file uses
            node = node.get(part) if isinstance(node, Mapping) else None
    return out


def _allowed_fields(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = PodlabConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        inner = _model_in(field.annotation) if field else None
        if inner is None:
            return []
        model = inner
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel inside Optional[...] / list[...] / Annotated[...] annotations."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
