"""values.schema.json rejects bad values with a message naming the value, before anything
is rendered; and it is generated, so it can never drift from the hub's config model.

Values that only the podlab part of the schema rejects are also fed to the hub's own parser:
helm and the hub must refuse the same input (the hub would otherwise crash-loop on a config
helm accepted).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter

from charts.podlab.hack import chart_schema
from podlab.config import ACCEPTS, ConfigError, Cores, Quantity, Seconds, parse_config
from podlab.localstack.paths import REPO_ROOT
from tests.chart.helm import CHART, example, render_error

BASE = yaml.safe_load(example("minimal").read_text())
PROFILE = BASE["podlab"]["profiles"][0]


def _values(tmp_path: Path, override: dict[str, Any]) -> tuple[str, ...]:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(override))
    return (str(example("minimal")), str(path))


def _profiles(*profiles: dict[str, Any]) -> dict[str, Any]:
    return {"podlab": {"profiles": list(profiles)}}


CASES: dict[str, tuple[dict[str, Any], list[str], bool]] = {
    # name: (override, fragments of helm's message, is the podlab section alone invalid?)
    "wrong type (string for a boolean)": (
        {"mlflow": {"enabled": "yes"}},
        ["at '/mlflow/enabled'", "got string, want boolean"],
        False,
    ),
    "wrong type (string for a number)": (
        {"podlab": {"culling": {"gpu_busy_threshold": "high"}}},
        ["at '/podlab/culling/gpu_busy_threshold'", "got string, want integer"],
        True,
    ),
    "wrong type (number for a list)": (
        {"hub": {"auth": {"oidc": {"scopes": 3}}}},
        ["at '/hub/auth/oidc/scopes'", "got number, want array"],
        False,
    ),
    "unknown key in the chart values": (
        {"hub": {"replicas": 2}},
        ["at '/hub'", "additional properties 'replicas' not allowed"],
        False,
    ),
    "unknown key in the podlab section (typo)": (
        {"podlab": {"culling": {"idle_timeout": "1h"}}},
        ["at '/podlab/culling'", "additional properties 'idle_timeout' not allowed"],
        True,
    ),
    "unknown top-level key": (
        {"hubb": {}},
        ["additional properties 'hubb' not allowed"],
        False,
    ),
    "profile without a slug": (
        _profiles({k: v for k, v in PROFILE.items() if k != "slug"}),
        ["at '/podlab/profiles/0'", "missing property 'slug'"],
        True,
    ),
    "annotation key Kubernetes would refuse (the hub would not start)": (
        {"podlab": {"user_service_account": {"annotations": {"role arn": "x"}}}},
        ["invalid propertyName 'role arn'", "does not match pattern"],
        True,
    ),
    "annotation key with a prefix over 253 characters": (
        {"podlab": {"user_service_account": {"annotations": {"a" * 254 + "/x": "y"}}}},
        ["invalid propertyName", "does not match pattern"],
        True,
    ),
    "negative GPU count": (
        _profiles({**PROFILE, "gpu": {"count": -1}}),
        ["at '/podlab/profiles/0/gpu/count'", "minimum: got -1, want 0"],
        True,
    ),
    "slug that is not a DNS label": (
        _profiles({**PROFILE, "slug": "GPU_large"}),
        ["at '/podlab/profiles/0/slug'", "does not match pattern"],
        True,
    ),
    "duration that is not a duration": (
        _profiles({**PROFILE, "idle_timeout": "soon"}),
        ["at '/podlab/profiles/0/idle_timeout'", "'soon' does not match pattern"],
        True,
    ),
    "no profiles": (
        {"podlab": {"profiles": []}},
        ["at '/podlab/profiles'", "minItems: got 0, want 1"],
        True,
    ),
    "service type not offered": (
        {"proxy": {"service": {"type": "ExternalName"}}},
        ["at '/proxy/service/type'", "value must be one of"],
        False,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_schema_rejects_bad_values_with_a_readable_message(case, tmp_path):
    override, fragments, podlab_invalid = CASES[case]
    error = render_error(_values(tmp_path, override))
    assert "values don't meet the specifications of the schema" in error, error
    for fragment in fragments:
        assert fragment in error, f"{fragment!r} not in:\n{error}"
    if podlab_invalid:
        podlab = {**BASE["podlab"], **override["podlab"]}
        with pytest.raises(ConfigError):
            parse_config(podlab)


def test_duplicate_profile_slug_is_rejected_by_the_chart_and_the_hub(tmp_path):
    """JSON schema cannot compare list items; the chart's template check does, and says so
    in the hub's own words: one rule, one text (podlab.config.duplicate_slug)."""
    override = _profiles(PROFILE, {**PROFILE, "display_name": "Copy", "default": False})
    error = render_error(_values(tmp_path, override))
    with pytest.raises(ConfigError) as hub:
        parse_config({**BASE["podlab"], **override["podlab"]})
    (line,) = hub.value.errors
    assert line == (
        "podlab.profiles[1].slug: duplicate slug 'small' (also podlab.profiles[0]); "
        "every profile needs a unique slug"
    )
    assert f"\n  - {line}\n" in error, error


def test_the_moved_user_service_account_value_names_its_new_key(tmp_path):
    """singleuser.serviceAccount.annotations is now podlab.user_service_account.annotations:
    a values file that still sets the old key fails, naming the new one."""
    override = {"singleuser": {"serviceAccount": {"annotations": {"a.io/role": "arn"}}}}
    error = render_error(_values(tmp_path, override))
    assert (
        "singleuser.serviceAccount.annotations moved to "
        "podlab.user_service_account.annotations: move the annotations there"
    ) in error, error


def test_annotation_keys_follow_the_charts_own_rule():
    """The podlab section's annotation keys and the chart's annotation values: one pattern."""
    schema = chart_schema.chart_schema(CHART)
    podlab = schema["$defs"]["UserServiceAccount"]["properties"]["annotations"]
    chart = schema["$defs"]["chart-annotations"]
    assert podlab["propertyNames"] == chart["propertyNames"]


def test_schema_accepts_every_example_as_the_hub_does():
    for path in sorted((CHART / "examples").glob("*.yaml")):
        parse_config(yaml.safe_load(path.read_text()), str(path))


def test_committed_schema_and_values_reference_are_current(capsys):
    """`make chart-docs` regenerates both; this fails when someone forgot to run it."""
    code = chart_schema.main(
        [
            "--check",
            "--chart",
            str(CHART),
            "--docs",
            str(REPO_ROOT / "docs" / "admin-guide.md"),
        ]
    )
    assert code == 0, capsys.readouterr().err


def test_schema_uses_the_aliases_the_hub_parses():
    schema = json.loads((CHART / "values.schema.json").read_text())
    defs = schema["$defs"]
    assert "schema" in defs["SqlIntegration"]["properties"]
    assert "schema_name" not in defs["SqlIntegration"]["properties"]
    assert "tolerationSeconds" in defs["Toleration"]["properties"]


@pytest.mark.parametrize(
    ("section", "name", "alias", "value"),
    [
        ("sql", "schema_name", "schema", "default"),
        ("tolerations", "toleration_seconds", "tolerationSeconds", 60),
    ],
)
def test_python_field_names_are_refused_where_helm_refuses_them(
    section, name, alias, value, tmp_path
):
    """podlab.yaml takes only the names the chart's schema takes (no populate_by_name)."""
    override: dict[str, Any]
    if section == "sql":
        override = {"integrations": {"sql": {"engine": "trino", "host": "trino", name: value}}}
        where = "podlab.integrations.sql"
    else:
        override = {"profiles": [{**PROFILE, "tolerations": [{"key": "gpu", name: value}]}]}
        where = f"podlab.profiles[0]({PROFILE['slug']}).tolerations[0]"
    error = render_error(_values(tmp_path, {"podlab": override}))
    assert f"additional properties '{name}' not allowed" in error, error
    with pytest.raises(ConfigError) as raised:
        parse_config({**BASE["podlab"], **override})
    assert f"{where}.{name}: unknown field; allowed here: " in str(raised.value)
    assert alias in str(raised.value).split("allowed here: ")[1]


def test_every_value_is_documented():
    schema = chart_schema.chart_schema(CHART)
    missing = []

    def walk(node: dict[str, Any], path: str) -> None:
        for key, child in node.get("properties", {}).items():
            if "description" not in child:
                missing.append(f"{path}.{key}".lstrip("."))
            walk(child, f"{path}.{key}")
        items = node.get("items")
        if isinstance(items, dict):
            walk(items, f"{path}[]")

    walk(schema, "")
    for name, definition in schema["$defs"].items():
        walk(definition, f"$defs.{name}")
    assert not missing, f"values without a description: {missing}"


def test_every_object_in_the_schema_rejects_unknown_keys():
    schema = chart_schema.chart_schema(CHART)
    open_objects = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if "properties" in node and node.get("additionalProperties") is not False:
                open_objects.append(path)
            for key, child in node.items():
                walk(child, f"{path}/{key}")
        elif isinstance(node, list):
            for index, child in enumerate(node):
                walk(child, f"{path}/{index}")

    walk(schema, "#")
    assert not open_objects, f"objects accepting unknown keys: {open_objects}"


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        ("memory", ["8Gi", "512Mi", "1.5G", 1024], ["8gb", "-1Gi", "lots", "100m"]),
        ("cpu", [0.5, 2, "500m", "1.5"], [0, -1, "two", "1.5.1"]),
        ("duration", ["30m", "1h30m", "90s", "7d", 3600, "60"], ["soon", "-5m", "1.5h", 0]),
    ],
)
def test_schema_spellings_match_the_hub_parser(field, good, bad):
    """The schema's patterns for quantities and durations accept what podlab.quantities does."""
    import jsonschema  # type: ignore[import-untyped]  # no stubs in the lock

    from podlab.quantities import parse_bytes, parse_cpu, parse_duration

    specials: dict[str, tuple[Any, Any]] = {
        "memory": (Quantity, parse_bytes),
        "cpu": (Cores, parse_cpu),
        "duration": (Seconds, parse_duration),
    }
    alias, parse = specials[field]
    schema = TypeAdapter(alias).json_schema()
    schema.pop(ACCEPTS)
    for value in good:
        parse(value)
        jsonschema.validate(value, schema)
    for value in bad:
        with pytest.raises(ValueError):  # noqa: PT011 (the parser's messages vary by case)
            parse(value)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(value, schema)
