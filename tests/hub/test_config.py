"""Config validation: every bad input gets one exact line naming field, value and what is allowed.

The same lines reach the admin three ways: `podlab validate`, a hub that refuses to start
(tests/hub/test_kubespawner_config.py), and `podlab render`. Here: the model and the CLI.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml

from podlab import __version__
from podlab.config import DEFAULT_IMAGE, ConfigError, PodlabConfig, load_config, parse_config
from podlab.localstack.paths import REPO_ROOT
from tests.hub.k8s_helpers import EXAMPLE_CONFIG, PODLAB_CLI, config_data, write_yaml

ALLOWED_PROFILE_FIELDS = (
    "slug, display_name, description, default, cpu, memory, gpu, node_selector, tolerations, "
    "image, idle_timeout, max_age, start_timeout, max_nodes, scales_from_zero"
)


def _with_profile(index: int, **fields: Any) -> dict[str, Any]:
    data = config_data()
    for key, value in fields.items():
        if value is None:
            del data["profiles"][index][key]
        else:
            data["profiles"][index][key] = value
    return data


def _gpu_count(count: int) -> dict[str, Any]:
    data = config_data()
    data["profiles"][1]["gpu"]["count"] = count
    return data


def _memory_limit(value: str) -> dict[str, Any]:
    data = config_data()
    data["profiles"][1]["memory"]["limit"] = value
    return data


CASES = [
    pytest.param(
        _with_profile(0, default="maybe"),
        "podlab.profiles[0](cpu-small).default: Input should be a valid boolean, unable to "
        "interpret input (got 'maybe')",
        id="wrong-type",
    ),
    pytest.param(
        _with_profile(1, gpus=2),
        f"podlab.profiles[1](gpu-1).gpus: unknown field; allowed here: {ALLOWED_PROFILE_FIELDS}",
        id="unknown-key",
    ),
    pytest.param(
        _with_profile(1, slug=None),
        "podlab.profiles[1].slug: required field is missing",
        id="missing-slug",
    ),
    pytest.param(
        _gpu_count(-1),
        "podlab.profiles[1](gpu-1).gpu.count: Input should be greater than or equal to 0 (got -1)",
        id="negative-gpu-count",
    ),
    pytest.param(
        _with_profile(1, slug="cpu-small"),
        "podlab.profiles[1].slug: duplicate slug 'cpu-small' (also podlab.profiles[0]); every "
        "profile needs a unique slug",
        id="duplicate-slug",
    ),
    pytest.param(
        _memory_limit("32Gb"),
        "podlab.profiles[1](gpu-1).memory.limit: expected a Kubernetes quantity such as 512Mi, "
        "8Gi or 1.5G (got '32Gb')",
        id="bad-quantity",
    ),
    pytest.param(
        _with_profile(1, idle_timeout="soon"),
        "podlab.profiles[1](gpu-1).idle_timeout: expected a duration such as 90s, 30m, 8h, 7d "
        "or 1h30m (got 'soon')",
        id="bad-duration",
    ),
    pytest.param(
        config_data(integrations={"spark": {"mode": "connect", "url": "spark://master:7077"}}),
        "podlab.integrations.spark: mode 'connect' needs url starting with sc:// "
        "(got 'spark://master:7077')",
        id="spark-url-mode-mismatch",
    ),
    pytest.param(
        _with_profile(1, default=True),
        "podlab.profiles: 2 profiles say default: true (cpu-small, gpu-1); mark at most one",
        id="two-defaults",
    ),
    pytest.param(
        config_data(network={"database": {"cidr": "10.0.48.1/24"}}),
        "podlab.network.database.cidr: expected a CIDR such as 10.0.0.0/16 or 10.1.2.3/32 "
        "(address bits after the prefix must be zero) (got '10.0.48.1/24')",
        id="bad-cidr",
    ),
    pytest.param(
        config_data(
            network={
                "database": {"cidr": "10.0.48.0/24"},
                "egress": [{"cidr": "10.0.48.5/32", "ports": [5432]}],
            }
        ),
        "podlab.network.egress[0].cidr: 10.0.48.5/32 lies inside network.database.cidr "
        "(10.0.48.0/24), the hub database, which user pods must never reach; remove the rule "
        "or narrow it",
        id="egress-to-database",
    ),
    pytest.param(
        config_data(network={"egress": [{"cidr": "10.0.0.0/8", "ports": [70000]}]}),
        "podlab.network.egress[0].ports[0]: Input should be less than or equal to 65535 "
        "(got 70000)",
        id="bad-port",
    ),
]


@pytest.mark.parametrize(("data", "expected"), CASES)
def test_invalid_config_names_field_value_and_allowed(data, expected):
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert caught.value.errors == [expected]


def test_every_problem_is_reported_at_once():
    data = _memory_limit("32Gb")
    data["profiles"][0]["idle_timeout"] = "soon"
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert caught.value.errors == [
        "podlab.profiles[0](cpu-small).idle_timeout: expected a duration such as 90s, 30m, 8h, "
        "7d or 1h30m (got 'soon')",
        "podlab.profiles[1](gpu-1).memory.limit: expected a Kubernetes quantity such as 512Mi, "
        "8Gi or 1.5G (got '32Gb')",
    ]


def test_example_config_is_valid_and_keeps_its_network_fields():
    config = load_config(EXAMPLE_CONFIG)
    assert [p.slug for p in config.profiles] == ["small", "large", "gpu-1"]
    assert config.network.platform_namespace == "podlab"
    assert config.network.database is not None
    assert config.network.database.cidr == "10.0.48.0/24"


def test_one_default_image_for_the_model_the_chart_and_the_example():
    """The single-user image of this release is named once (podlab.config.DEFAULT_IMAGE); the
    chart's values and the example state it too, for readers, and must not drift."""
    values = yaml.safe_load((REPO_ROOT / "charts" / "podlab" / "values.yaml").read_text())
    example = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    assert f"podlab/singleuser:{__version__}" == DEFAULT_IMAGE
    assert PodlabConfig.model_fields["default_image"].default == DEFAULT_IMAGE
    assert values["podlab"]["default_image"] == DEFAULT_IMAGE
    assert example["podlab"]["default_image"] == DEFAULT_IMAGE


def test_network_defaults_keep_private_ranges_closed():
    config = parse_config(config_data(network={}))
    assert config.network.platform_namespace is None
    assert config.network.private_cidrs == [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
    ]
    assert config.network.internet is True
    assert config.network.database is None


# -- podlab validate ---------------------------------------------------------------------------
def _podlab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PODLAB_CLI, *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_validate_ok_prints_the_profiles(tmp_path):
    result = _podlab("validate", str(EXAMPLE_CONFIG))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{EXAMPLE_CONFIG}: OK — 3 profiles: small, large, gpu-1\n"


def test_validate_reports_each_problem_and_exits_1(tmp_path):
    data = _memory_limit("32Gb")
    data["profiles"][1]["gpu"]["count"] = -1
    path = write_yaml(tmp_path / "bad.yaml", {"podlab": data})
    result = _podlab("validate", str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{path}: invalid podlab config",
        "  - podlab.profiles[1](gpu-1).memory.limit: expected a Kubernetes quantity such as "
        "512Mi, 8Gi or 1.5G (got '32Gb')",
        "  - podlab.profiles[1](gpu-1).gpu.count: Input should be greater than or equal to 0 "
        "(got -1)",
    ]


def test_validate_missing_file_and_bad_yaml(tmp_path):
    missing = tmp_path / "nope.yaml"
    result = _podlab("validate", str(missing))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{missing}: invalid podlab config",
        f"  - cannot read {missing}: No such file or directory",
    ]
    broken = tmp_path / "broken.yaml"
    broken.write_text("podlab: [unclosed\n")
    result = _podlab("validate", str(broken))
    assert result.returncode == 1
    assert result.stderr.splitlines()[1].startswith("  - not valid YAML: ")


def test_cli_without_a_command_is_a_usage_error():
    result = _podlab()
    assert result.returncode == 2
    assert "usage: podlab" in result.stderr
