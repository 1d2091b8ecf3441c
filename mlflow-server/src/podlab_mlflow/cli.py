"""`podlab-mlflow migrate` and `podlab-mlflow serve`.

`serve` does all checking in this process, then replaces itself with `podlab_mlflow.runner`
(uvicorn; same pid, so a
container's PID 1 and a test's process handle stay valid): the checks' imports are not kept
in memory next to the workers, and no idle launcher process sits above them as with
`mlflow server`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import uuid
from collections.abc import Sequence

from podlab_mlflow import __version__
from podlab_mlflow.settings import ConfigError, Settings, load_settings, normalize_database_url

EXIT_CONFIG = 2
EXIT_SCHEMA = 3
EXIT_DATABASE = 4

_logger = logging.getLogger("podlab_mlflow")


def _fail(code: int, message: str) -> int:
    print(f"podlab-mlflow: error: {message}", file=sys.stderr)
    return code


def _database_error(err: Exception) -> int:
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return _fail(
        EXIT_DATABASE,
        f"cannot reach the database ({first}). Check PODLAB_MLFLOW_DATABASE_URL / "
        "PODLAB_MLFLOW_DATABASE_PASSWORD and that PostgreSQL accepts connections.",
    )


def cmd_migrate(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import OperationalError

    from podlab_mlflow.schema import SchemaError, check_current, make_engine, migrate

    try:
        url = normalize_database_url(
            os.environ.get("PODLAB_MLFLOW_DATABASE_URL", "").strip(),
            os.environ.get("PODLAB_MLFLOW_DATABASE_PASSWORD") or None,
        )
    except ConfigError as err:
        return _fail(EXIT_CONFIG, str(err))
    engine = make_engine(url)
    try:
        if args.check:
            status = check_current(engine)
            print(f"schema is current (MLflow revision {status.head})")
            return 0
        before, after = migrate(engine)
    except SchemaError as err:
        return _fail(EXIT_SCHEMA, str(err))
    except OperationalError as err:
        return _database_error(err)
    finally:
        engine.dispose()
    if before.up_to_date:
        print(f"schema already current (MLflow revision {after.head}); nothing to do")
    else:
        print(
            f"schema migrated: MLflow revision {before.current or 'empty'} -> {after.current}, "
            f"podlab schema {before.podlab_version or 'none'} -> {after.podlab_version}"
        )
    return 0


def server_environment(settings: Settings) -> dict[str, str]:
    """What `mlflow server` would export for its workers, plus podlab's fixed choices."""
    from mlflow.server.constants import (
        ARTIFACT_ROOT_ENV_VAR,
        ARTIFACTS_DESTINATION_ENV_VAR,
        BACKEND_STORE_URI_ENV_VAR,
        REGISTRY_STORE_URI_ENV_VAR,
        SERVE_ARTIFACTS_ENV_VAR,
    )

    env = {
        BACKEND_STORE_URI_ENV_VAR: settings.database_url,
        REGISTRY_STORE_URI_ENV_VAR: settings.database_url,
        ARTIFACT_ROOT_ENV_VAR: "mlflow-artifacts:/",
        SERVE_ARTIFACTS_ENV_VAR: "true",
        ARTIFACTS_DESTINATION_ENV_VAR: settings.artifacts_destination,
        "MLFLOW_SERVER_ALLOWED_HOSTS": settings.mlflow_allowed_hosts,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_SQLALCHEMYSTORE_POOL_SIZE": str(settings.db_pool_size),
        "MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW": str(settings.db_max_overflow),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "_MLFLOW_SGI_NAME": "uvicorn",
        "_MLFLOW_SERVER_BOOT_ID": uuid.uuid4().hex,
        "_MLFLOW_IN_JOB_EXECUTOR": "false",
    }
    if settings.s3_endpoint_url:
        env["MLFLOW_S3_ENDPOINT_URL"] = settings.s3_endpoint_url
    if settings.allowed_origins:  # the UI's own POSTs carry the public origin
        env["MLFLOW_SERVER_CORS_ALLOWED_ORIGINS"] = ",".join(settings.allowed_origins)
    return env


def runner_argv() -> list[str]:
    """The command `serve` execs: podlab_mlflow.runner (uvicorn with a TCP_NODELAY socket)."""
    return [sys.executable, "-m", "podlab_mlflow.runner"]


def cmd_serve(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import OperationalError

    from podlab_mlflow.schema import SchemaError, check_current, make_engine

    try:
        settings = load_settings()
    except ConfigError as err:
        return _fail(EXIT_CONFIG, str(err))
    engine = make_engine(settings.database_url)
    try:
        check_current(engine)
    except SchemaError as err:
        return _fail(EXIT_SCHEMA, str(err))
    except OperationalError as err:
        return _database_error(err)
    finally:
        engine.dispose()
    os.environ.update(server_environment(settings))
    argv = runner_argv()
    print(
        f"podlab-mlflow {__version__}: serving on {settings.host}:{settings.port} with "
        f"{settings.workers} worker(s), artifacts -> {settings.artifacts_destination}",
        file=sys.stderr,
        flush=True,
    )
    if args.dry_run:
        print(" ".join(argv))
        return 0
    os.execv(sys.executable, argv)  # noqa: S606  (argv is built above, no shell)
    return 0  # pragma: no cover


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="podlab-mlflow",
        description=(
            "podlab's MLflow tracking server: PostgreSQL backend, artifacts proxied to S3, "
            "JupyterHub-token authentication. Settings come from the environment "
            "(see mlflow-server/README.md)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    migrate = sub.add_parser(
        "migrate",
        help="upgrade the database schema (safe to re-run; run once per release)",
        description="Upgrade the tracking database to this release's schema. Needs "
        "PODLAB_MLFLOW_DATABASE_URL (and PODLAB_MLFLOW_DATABASE_PASSWORD if not in the URL).",
    )
    migrate.add_argument(
        "--check", action="store_true", help="only check; exit 3 if a migration is needed"
    )
    migrate.set_defaults(func=cmd_migrate)
    serve = sub.add_parser(
        "serve",
        help="run the tracking server (refuses a schema that is not current)",
        description="Start the tracking server from the PODLAB_MLFLOW_* and JUPYTERHUB_* "
        "environment variables.",
    )
    serve.add_argument(
        "--dry-run", action="store_true", help="check everything, print the command, exit"
    )
    serve.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
