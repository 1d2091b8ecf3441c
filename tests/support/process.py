"""Re-export of `podlab.localstack.process`: the tests and `make up` share one implementation."""

from podlab.localstack.process import (
    LOG_TAIL_LINES,
    ComponentError,
    ManagedProcess,
    free_port,
    http_ok,
    log_tail,
    pid_alive,
    port_in_use,
    require_executable,
    require_port_free,
    start_http_server,
    tcp_ok,
)

__all__ = [
    "LOG_TAIL_LINES",
    "ComponentError",
    "ManagedProcess",
    "free_port",
    "http_ok",
    "log_tail",
    "pid_alive",
    "port_in_use",
    "require_executable",
    "require_port_free",
    "start_http_server",
    "tcp_ok",
]
