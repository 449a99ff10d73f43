"""One run's options: its mode (local-sim, paper, live) derived from the config and --live, its keys read from the
environment variables the config names, and the command line applied over the config."""
from __future__ import annotations

import enum
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from orchestration.config.models import (DEFAULT_METRICS_HOST, DEFAULT_METRICS_PORT, DEFAULT_RUN_DIR,
                                         PASSPHRASE_DIALECTS, Config, ConfigError, Credentials, MetricsConfig,
                                         RunConfig, load_config)


class Mode(str, enum.Enum):
    PAPER = "paper"
    LIVE = "live"
    LOCAL_SIM = "local-sim"


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Everything `rayarb run` decided before handing over to ``orchestration.main_job.run_main_job``.

    ``config`` is None for the no-config run: the main job starts local venues itself and builds
    ``Config.default_local``. ``duration_s``, ``metrics_port``, ``metrics_host`` and ``run_dir`` are the effective values
    (command line over config over defaults) and ``config.run`` / ``config.metrics`` already agree with them.
    """

    config: Config | None
    mode: Mode
    live: bool = False
    config_path: Path | None = None
    address: str | None = None  # None: start a local Ray; "auto" or "host:port": join that cluster
    duration_s: float | None = None
    metrics_port: int = DEFAULT_METRICS_PORT
    metrics_host: str = DEFAULT_METRICS_HOST
    run_dir: Path = Path(DEFAULT_RUN_DIR)
    credentials: Mapping[str, Credentials] = field(default_factory=dict, repr=False, compare=False)


def resolve_mode(config: Config | None, *, live: bool) -> Mode:
    """Which mode a run of ``config`` is in. ``config=None`` is the no-config run: local venues started by rayarb."""
    if config is not None and config.run.paper:
        if live:
            raise ConfigError("run.paper: true contradicts --live; remove one of them")
        return Mode.PAPER
    if config is None or config.is_local:
        if live:
            raise ConfigError("--live sends real orders to real exchanges; this run trades simulator venues only "
                              "(every venue's url is on loopback or declared simulator: true, or no --config was "
                              "given)")
        return Mode.LOCAL_SIM
    return Mode.LIVE if live else Mode.PAPER


def resolve_credentials(config: Config, mode: Mode, environ: Mapping[str, str] | None = None) -> dict[str, Credentials]:
    """Read each venue's key and secret from the environment variables the config names.

    ``live`` and ``local-sim`` need keys for every venue and raise ``ConfigError`` naming each missing variable;
    ``paper`` reads none: nothing is signed. Values never appear in errors.
    """
    if mode is Mode.PAPER:
        return {}
    environ = os.environ if environ is None else environ
    credentials: dict[str, Credentials] = {}
    errors: list[str] = []
    for venue in config.venues:
        if venue.inline_credentials is not None:
            credentials[venue.name] = venue.inline_credentials
            continue
        if venue.api_key_env is None or venue.secret_env is None:
            errors.append(f"venues.{venue.name}: {mode.value} mode needs keys; set api_key_env and secret_env")
            continue
        if venue.exchange in PASSPHRASE_DIALECTS and venue.passphrase_env is None:
            errors.append(f"venues.{venue.name}.passphrase_env: {mode.value} mode needs the passphrase of "
                          f"{venue.exchange} keys; name its environment variable")
            continue
        names = [("api_key_env", venue.api_key_env), ("secret_env", venue.secret_env)]
        if venue.passphrase_env is not None:
            names.append(("passphrase_env", venue.passphrase_env))
        missing = [f"venues.{venue.name}.{field_name}: environment variable {env_name} is not set"
                   for field_name, env_name in names if not environ.get(env_name)]
        if missing:
            errors.extend(missing)
            continue
        credentials[venue.name] = Credentials(environ[venue.api_key_env], environ[venue.secret_env],
                                              environ[venue.passphrase_env] if venue.passphrase_env else None)
    if errors:
        raise ConfigError(errors)
    return credentials


def build_run_options(
    *,
    config_path: str | os.PathLike[str] | None = None,
    config: Config | None = None,
    address: str | None = None,
    duration_s: float | None = None,
    metrics_port: int | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    live: bool = False,
    environ: Mapping[str, str] | None = None,
) -> RunOptions:
    """Load the config (if any), apply command-line overrides, derive the mode and resolve keys.

    Raises ``ConfigError`` for anything the operator must fix, e.g. ``--live`` without keys, naming the variable.
    """
    if config is None and config_path is not None:
        config = load_config(config_path)
    if duration_s is not None and (not math.isfinite(duration_s) or duration_s <= 0):
        raise ConfigError(f"--duration must be > 0 seconds, got {duration_s}")
    if metrics_port is not None and not 0 <= metrics_port <= 65535:
        raise ConfigError(f"--metrics-port must be between 0 and 65535, got {metrics_port}")
    if address is not None and not address.strip():
        raise ConfigError("--address must be 'auto' or HOST:PORT, got an empty string")
    mode = resolve_mode(config, live=live)
    run_section = config.run if config is not None else RunConfig()
    metrics_section = config.metrics if config is not None else MetricsConfig()
    run_section = run_section.model_copy(update={
        "duration_s": duration_s if duration_s is not None else run_section.duration_s,
        "run_dir": str(run_dir) if run_dir is not None else run_section.run_dir,
    })
    metrics_section = metrics_section.model_copy(
        update={"port": metrics_port if metrics_port is not None else metrics_section.port})
    credentials: dict[str, Credentials] = {}
    if config is not None:
        config = config.model_copy(update={"run": run_section, "metrics": metrics_section})
        try:
            credentials = resolve_credentials(config, mode, environ)
        except ConfigError as e:
            raise ConfigError(e.errors, str(config_path) if config_path is not None else None) from None
    if Path(run_section.run_dir).exists() and not Path(run_section.run_dir).is_dir():
        raise ConfigError(f"run directory {run_section.run_dir} is a file, not a directory "
                          f"({'--run-dir' if run_dir is not None else 'run.run_dir'})")
    return RunOptions(
        config=config,
        mode=mode,
        live=live,
        config_path=Path(config_path) if config_path is not None else None,
        address=address.strip() if address is not None else None,
        duration_s=run_section.duration_s,
        metrics_port=metrics_section.port,
        metrics_host=metrics_section.host,
        run_dir=Path(run_section.run_dir),
        credentials=credentials,
    )
