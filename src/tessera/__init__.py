"""Tessera: a self-hosted, AWS-compatible IAM and STS server."""

__version__ = "0.1.0"
