"""Run uvicorn with podlab's app: what `podlab-mlflow serve` execs after its checks.

Not `python -m uvicorn --workers N`: with more than one worker uvicorn binds the listening
socket with protocol 0, so asyncio never sets TCP_NODELAY on accepted connections, and every
response MLflow writes in two pieces (headers, then body) waits for the client's delayed ACK:
≈40 ms on each request (measured: 48 ms vs 5 ms for `/version`; stock `mlflow server` with
`--workers 2` shows the same). Binding the socket here as IPPROTO_TCP restores TCP_NODELAY.
"""

from __future__ import annotations

import importlib.util
import logging
import socket
import sys
from pathlib import Path

from podlab_mlflow.settings import Settings, load_settings

APP = "podlab_mlflow.app:create_app"
_logger = logging.getLogger("podlab_mlflow")


def mlflow_log_config() -> Path:
    """MLflow's uvicorn log format, found without importing mlflow.server into the supervisor."""
    spec = importlib.util.find_spec("mlflow")
    if spec is None or spec.origin is None:
        raise RuntimeError("MLflow is not installed")
    return Path(spec.origin).parent / "server" / "uvicorn_log_config.yaml"


def bind_tcp_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def run(settings: Settings) -> None:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        APP,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=str(mlflow_log_config()),
        timeout_graceful_shutdown=20,
    )
    if settings.workers == 1:
        uvicorn.Server(config).run()  # uvicorn binds the socket itself, as IPPROTO_TCP
        return
    sock = bind_tcp_socket(settings.host, settings.port)
    _logger.info("listening on %s:%s with %d workers", settings.host, settings.port, config.workers)
    Multiprocess(config, sockets=[sock]).run()


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    run(load_settings())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
