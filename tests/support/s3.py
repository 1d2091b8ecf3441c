"""Re-export of `podlab.localstack.s3` for the test fixtures."""

from podlab.localstack.s3 import COMPONENT, INSTALL_HINT, REGION, S3Server

__all__ = ["COMPONENT", "INSTALL_HINT", "REGION", "S3Server"]
