"""Re-export of `podlab.localstack.postgres` for the test fixtures."""

from podlab.localstack.postgres import COMPONENT, INSTALL_HINT, PostgresServer, find_pg_bin

__all__ = ["COMPONENT", "INSTALL_HINT", "PostgresServer", "find_pg_bin"]
