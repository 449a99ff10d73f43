"""ray_cluster.yaml, checked offline the way `ray up` checks it before touching a host: Draft 7 JSON schema validation
against the schema bundled with Ray, then Ray's own prepare_config + validate_config (private API, Ray pinned to 2.60).
Plus what rayarb needs from it: one auth mode everywhere, the head-only custom resource, metrics export, rayarb install."""
from __future__ import annotations

import copy
import json
import shlex
import subprocess
from pathlib import Path

import click
import jsonschema
import pytest
import ray.autoscaler
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

REPO = Path(__file__).resolve().parents[2]
CLUSTER_YAML = REPO / "ray_cluster.yaml"
SCHEMA = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())


def load() -> dict:
    return yaml.safe_load(CLUSTER_YAML.read_text())


def validate_offline(config: dict) -> dict:
    jsonschema.Draft7Validator(SCHEMA).validate(config)
    prepared = prepare_config(config)
    validate_config(prepared)
    return prepared


def ray_start_args(commands: list[str]) -> tuple[dict[str, str], list[str]]:
    """The environment assignments and arguments of the one `ray start` command in ``commands``."""
    (command,) = [c for c in commands if "ray start" in c]
    words = shlex.split(command.split(";", 1)[1])
    env = {}
    while "=" in words[0] and not words[0].startswith("-"):
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    assert words[0].endswith("/ray") and words[1] == "start"
    return env, words[2:]


def option(args: list[str], name: str) -> str | None:
    return next((a.split("=", 1)[1] for a in args if a.startswith(name + "=")), None)


def test_cluster_yaml_passes_rays_schema_and_validation():
    prepared = validate_offline(load())
    assert prepared["provider"]["type"] == "local"
    assert prepared["head_node_type"] in prepared["available_node_types"]
    node_type = prepared["available_node_types"][prepared["head_node_type"]]
    assert node_type["max_workers"] == len(prepared["provider"]["worker_ips"]) == prepared["max_workers"]


def test_every_node_starts_ray_in_token_mode_with_the_shared_token():
    config = load()
    head_env, head_args = ray_start_args(config["head_start_ray_commands"])
    worker_env, worker_args = ray_start_args(config["worker_start_ray_commands"])
    assert head_env == worker_env == {"RAY_AUTH_MODE": "token",
                                      "RAY_AUTH_TOKEN_PATH": "$HOME/.ray/rayarb_cluster_token",
                                      "RAY_worker_niceness": "0"}
    assert "--head" in head_args and option(worker_args, "--address") == "$RAY_HEAD_IP:6379"
    assert "~/.ray/rayarb_cluster_token" in config["file_mounts"]
    shell_env = "\n".join(config["setup_commands"])
    assert "export RAY_AUTH_MODE=token" in shell_env
    assert 'export RAY_AUTH_TOKEN_PATH="$HOME/.ray/rayarb_cluster_token"' in shell_env


def test_the_head_carries_rayarb_head_the_workers_rayarb_worker_and_both_export_metrics():
    config = load()
    _, head_args = ray_start_args(config["head_start_ray_commands"])
    _, worker_args = ray_start_args(config["worker_start_ray_commands"])
    assert json.loads(option(head_args, "--resources")) == {"rayarb_head": 1}
    assert json.loads(option(worker_args, "--resources")) == {"rayarb_worker": 1}  # the hot path off the head
    assert option(head_args, "--metrics-export-port") == option(worker_args, "--metrics-export-port") == "8080"
    # `ray job submit` needs the head's job API; it listens on loopback only (reached through `ray dashboard`)
    assert option(head_args, "--include-dashboard") == "true"
    assert option(head_args, "--dashboard-host") == "127.0.0.1"
    assert option(head_args, "--autoscaling-config") == "~/ray_bootstrap_config.yaml"


def test_setup_installs_rayarb_from_the_synced_checkout():
    config = load()
    assert config["file_mounts"]["~/rayarb"] == "."
    assert any("pip install" in c and "-e ~/rayarb" in c for c in config["setup_commands"])
    assert ".venv" in config["rsync_exclude"]


def test_every_command_is_valid_bash():
    config = load()
    commands = [c for key in ("setup_commands", "head_start_ray_commands", "worker_start_ray_commands")
                for c in config[key]]
    for command in commands:
        result = subprocess.run(["bash", "-n", "-c", command], capture_output=True, text=True, timeout=10)
        assert result.returncode == 0, (command, result.stderr)


def broken(change) -> dict:
    config = copy.deepcopy(load())
    change(config)
    return config


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda c: c.update(head_start_commands=["ray start --head"]), jsonschema.ValidationError),
        (lambda c: c.pop("cluster_name"), jsonschema.ValidationError),
        (lambda c: c["provider"].pop("type"), jsonschema.ValidationError),
        (lambda c: c.update(max_workers="two"), jsonschema.ValidationError),
        (lambda c: c.update(setup_commands="pip install rayarb"), jsonschema.ValidationError),
        (lambda c: c["auth"].update(ssh_password="hunter2"), jsonschema.ValidationError),
        # Ray's local-provider preparation aborts through its CLI logger with a ClickException.
        (lambda c: c["provider"].pop("head_ip"), click.ClickException),
        (lambda c: c.update(available_node_types={"x": {"node_config": {}, "resources": {}}}), click.ClickException),
    ],
)
def test_a_broken_copy_fails_offline_validation(change, error):
    with pytest.raises(error):
        validate_offline(broken(change))


def test_validate_config_itself_rejects_an_inconsistent_prepared_config():
    prepared = prepare_config(load())
    prepared["head_node_type"] = "no.such.type"
    with pytest.raises(ValueError, match="head_node_type"):
        validate_config(prepared)
    prepared = prepare_config(load())
    del prepared["cluster_synced_files"]
    with pytest.raises(RuntimeError, match="cluster_synced_files"):
        validate_config(prepared)


def test_the_head_declares_a_lost_node_dead_in_seconds_as_the_cluster_tests_do():
    """Ray's default (five missed 3 s health checks) would leave a lost node's actors unrestarted for ~15 s, and a
    call to a killed actor held 1 s before it fails."""
    from ray.scripts.scripts import start

    from orchestration.ray_runtime import FAIL_FAST_ON_DEAD_ACTORS
    from tests.cluster.nodes import CLUSTER_SYSTEM_CONFIG

    _, head_args = ray_start_args(load()["head_start_ray_commands"])
    assert json.loads(option(head_args, "--system-config")) == dict(CLUSTER_SYSTEM_CONFIG)
    assert CLUSTER_SYSTEM_CONFIG["timeout_ms_task_wait_for_death_info"] == FAIL_FAST_ON_DEAD_ACTORS[
        "timeout_ms_task_wait_for_death_info"] == 0
    assert "--system-config" in {name for parameter in start.params for name in parameter.opts}
