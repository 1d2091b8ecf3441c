"""The one source of truth: the `podlab:` section of the chart values, or a local podlab.yaml.

Both spawners (KubeSpawner on Kubernetes, the local spawner for `make up`), the culler and the
render/validate CLIs read these models; nothing else parses the file. Bad input is rejected
with messages that name the field path, the bad value and what is allowed, because the admin
who reads them is usually looking at a failed `helm upgrade` or a hub that refused to start.
"""

from __future__ import annotations

import ipaddress
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from podlab import __version__
from podlab.quantities import parse_bytes, parse_cpu, parse_duration

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


Quantity = Annotated[str, BeforeValidator(_quantity)]
"""A memory/storage quantity kept as written ("8Gi"): Kubernetes wants the string back."""
Seconds = Annotated[int, BeforeValidator(_duration)]
"""A duration ("30m") stored as seconds."""
Cores = Annotated[float, BeforeValidator(_cpu)]


def _cidr(value: Any) -> str:
    try:
        return str(ipaddress.ip_network(str(value), strict=True))
    except ValueError:
        raise ValueError(
            "expected a CIDR such as 10.0.0.0/16 or 10.1.2.3/32 (address bits after the "
            "prefix must be zero)"
        ) from None


Cidr = Annotated[str, BeforeValidator(_cidr)]
"""An IPv4/IPv6 network in CIDR notation, normalised ("10.0.0.0/16")."""
Port = Annotated[int, Field(ge=1, le=65535)]
DNS_LABEL_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
Slug = Annotated[str, Field(pattern=DNS_LABEL_PATTERN)]
"""A profile slug is a DNS label: it ends up in object names and labels."""


class _Model(BaseModel):
    """Strict and immutable: unknown keys are typos, and a loaded config never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CpuSpec(_Model):
    guarantee: Cores
    limit: Cores

    @model_validator(mode="after")
    def _guarantee_within_limit(self) -> CpuSpec:
        if self.guarantee > self.limit:
            raise ValueError(f"guarantee {self.guarantee:g} exceeds limit {self.limit:g}")
        return self


class MemorySpec(_Model):
    guarantee: Quantity
    limit: Quantity

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
    resource: Annotated[str, Field(pattern=r"^[a-z0-9.-]+/[a-z0-9._-]+$")] = DEFAULT_GPU_RESOURCE


class Toleration(_Model):
    """A Kubernetes toleration, spelled as in a pod spec (tolerationSeconds in camelCase)."""

    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = Field(default=None, alias="tolerationSeconds")

    def to_k8s(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class Profile(_Model):
    slug: Slug
    display_name: Annotated[str, Field(min_length=1, max_length=200)]
    description: str = ""
    default: bool = False
    cpu: CpuSpec
    memory: MemorySpec
    gpu: GpuSpec | None = None
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    image: str | None = None
    idle_timeout: Seconds | None = None
    max_age: Seconds | None = None
    start_timeout: Seconds | None = None
    """How long a server may take to start (a GPU node started from zero takes minutes)."""
    max_nodes: Annotated[int, Field(ge=1)] | None = None
    """The size limit of the node group serving this profile (its cluster-autoscaler maximum):
    while fewer matching nodes exist, a new one can be started for a server."""
    scales_from_zero: bool = False
    """The node group may have no node at all and starts one for a server (a GPU group at
    min size 0): with no matching node, the profile still counts as startable."""

    @property
    def gpu_count(self) -> int:
        return self.gpu.count if self.gpu else 0


class StorageConfig(_Model):
    home_size: Quantity = "20Gi"
    storage_class: str | None = None
    """None uses the cluster's default StorageClass."""


class CullingConfig(_Model):
    enabled: bool = True
    default_idle_timeout: Seconds = 3600
    check_every: Seconds = 300
    gpu_busy_threshold: Annotated[int, Field(ge=0, le=100)] = 10
    """GPU utilisation (percent) at or above which a server counts as busy."""


class MlflowIntegration(_Model):
    url: Annotated[str, Field(pattern=r"^https?://")] | None = None


class S3Integration(_Model):
    region: str | None = None
    shared_bucket: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")] | None = (
        None
    )
    endpoint_url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    """For S3-compatible stores; None means AWS S3."""


class SqlIntegration(_Model):
    engine: Literal["trino", "presto"]
    host: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    catalog: str | None = None
    schema_name: str | None = Field(default=None, alias="schema")
    http_scheme: Literal["http", "https"] = "http"
    auth: Literal["none", "basic", "jwt"] = "none"


class SparkIntegration(_Model):
    mode: Literal["connect", "standalone", "kubernetes"]
    url: str | None = None
    """sc://host:port for connect, spark://host:port for standalone; for kubernetes the API
    server (default https://kubernetes.default.svc)."""
    executor_image: str | None = None
    executor_instances: Annotated[int, Field(ge=1, le=100)] = 2

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
    email_domain: str | None = None
    """Commit e-mail is <username>@<email_domain>; None uses <username>@users.noreply.podlab."""


class EnvloggerIntegration(_Model):
    enabled: bool = True


class DnsPeer(_Model):
    """Where cluster DNS runs (CoreDNS on EKS: kube-system pods labelled k8s-app=kube-dns)."""

    namespace: Annotated[str, Field(pattern=DNS_LABEL_PATTERN)] = "kube-system"
    pod_labels: dict[str, str] = Field(default_factory=lambda: {"k8s-app": "kube-dns"})


class DatabaseEndpoint(_Model):
    """The hub/MLflow PostgreSQL server: user pods may never reach it."""

    cidr: Cidr
    port: Port = 5432


class NetworkRule(_Model):
    """An extra peer for user pods: a CIDR and the ports (none listed = every port)."""

    cidr: Cidr
    ports: list[Port] = Field(default_factory=list)


class NetworkConfig(_Model):
    """What the per-user NetworkPolicy needs that the integration URLs cannot say."""

    platform_namespace: Annotated[str, Field(pattern=DNS_LABEL_PATTERN)] | None = None
    """Namespace of the hub, proxy and MLflow; None means the namespace the hub runs in."""
    hub_port: Port = 8081
    dns: DnsPeer = Field(default_factory=DnsPeer)
    private_cidrs: list[Cidr] = Field(
        default_factory=lambda: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"]
    )
    """Cluster/VPC ranges: reachable only through explicit rules, so other namespaces are not."""
    internet: bool = True
    """Allow egress to every address outside private_cidrs (AWS S3, package indexes)."""
    database: DatabaseEndpoint | None = None
    kubernetes_api_cidrs: list[Cidr] = Field(default_factory=list)
    """API server endpoint addresses, opened on 443/6443 only for spark.mode kubernetes."""
    egress: list[NetworkRule] = Field(default_factory=list)
    ingress: list[NetworkRule] = Field(default_factory=list)

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


class Integrations(_Model):
    mlflow: MlflowIntegration = Field(default_factory=MlflowIntegration)
    s3: S3Integration = Field(default_factory=S3Integration)
    sql: SqlIntegration | None = None
    spark: SparkIntegration | None = None
    git: GitIntegration = Field(default_factory=GitIntegration)
    envlogger: EnvloggerIntegration = Field(default_factory=EnvloggerIntegration)


class PodlabConfig(_Model):
    profiles: Annotated[list[Profile], Field(min_length=1)]
    default_image: str = DEFAULT_IMAGE
    admin_users: list[str] = Field(default_factory=list)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    culling: CullingConfig = Field(default_factory=CullingConfig)
    integrations: Integrations = Field(default_factory=Integrations)
    network: NetworkConfig = Field(default_factory=NetworkConfig)

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
        else:
            alias = {"schema_name": "schema", "toleration_seconds": "tolerationSeconds"}
            out += f".{alias.get(part, part)}"
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
