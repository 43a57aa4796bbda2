"""ARN value object: parse and format (pure)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, text: str) -> "Arn":
        parts = text.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn" or not parts[1] or not parts[2]:
            raise ValueError(f"'{text}' is not a valid ARN")
        return cls(parts[1], parts[2], parts[3], parts[4], parts[5])

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"

    @property
    def resource_type(self) -> str:
        """``role`` for ``role/path/name``; empty when the resource has no type."""
        head, sep, _ = self.resource.partition("/")
        return head if sep else ""


def iam_arn(account: str, kind: str, path: str, name: str) -> str:
    """``arn:aws:iam::ACCOUNT:KIND/PATH/NAME`` with IAM's path convention (path starts and ends with /)."""
    return f"arn:aws:iam::{account}:{kind}{path}{name}"


def root_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:root"


def assumed_role_arn(account: str, role_name: str, session_name: str) -> str:
    return f"arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}"


def federated_user_arn(account: str, name: str) -> str:
    return f"arn:aws:sts::{account}:federated-user/{name}"
