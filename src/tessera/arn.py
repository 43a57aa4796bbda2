"""ARN value object: parse and format (pure).

``Arn.parse`` is the one place an ARN is split into its fields; ``parse_iam_arn`` is
the strict reading IAM applies to ARNs a client passes in a parameter: exactly the ``aws`` partition in lower case,
service ``iam``, no region, a 12-digit account (or ``aws`` where AWS managed policies
are allowed), the resource type spelled exactly, and only the characters of the model's
``arnType`` pattern (``[\u0009\u000a\u000d\u0020-\u00ff]+``). A name in another case
is a different ARN: IAM resolves names case-insensitively (in ASCII only), but what it
authorizes and reports is always the ARN as stored
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html).

The policy engine reads the ARNs in policies and requests itself: ``tessera.policy`` is a
pure library that imports nothing of Tessera, and this module sits below it, so neither
imports the other (docs/architecture.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PARTITION = "aws"
AWS_MANAGED_POLICY_PREFIX = "arn:aws:iam::aws:policy/"
"""Every AWS managed policy's ARN starts so (then its path, if any, and its name)."""
ARN_TYPE_PATTERN = "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+"
_ARN_TYPE = re.compile("[\t\n\r\x20-\xff]+")
_ACCOUNT = re.compile("[0-9]{12}")


class ArnError(ValueError):
    """Text that is not an ARN of the kind asked for; ``pattern`` when it even fails the
    model's ``arnType`` character pattern (AWS answers that with a ValidationError)."""

    def __init__(self, text: str, *, pattern: bool = False) -> None:
        super().__init__(f"ARN {text} is not valid.")
        self.text = text
        self.pattern = pattern


@dataclass(frozen=True, slots=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, text: str, *, any_prefix: bool = False) -> Arn | None:
        """The five fields of ``arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE``, or None when
        ``text`` has fewer than six colon-separated fields (the resource keeps any further
        colons) or does not start with ``arn`` (any first field is taken with
        ``any_prefix``). No field is judged: each reader checks the ones it cares about."""
        parts = text.split(":", 5)
        if len(parts) != 6 or (parts[0] != "arn" and not any_prefix):
            return None
        return cls(parts[1], parts[2], parts[3], parts[4], parts[5])

    @property
    def resource_type(self) -> str:
        """``role`` for ``role/path/name``: the resource up to its first ``/`` (all of it
        when it has none, e.g. ``root``)."""
        return self.resource.partition("/")[0]

    @property
    def resource_name(self) -> str:
        """``name`` for ``role/path/name``: the resource after its last ``/`` (empty when it
        ends with ``/``; all of it when it has none)."""
        return self.resource.rpartition("/")[2]

    @property
    def resource_path(self) -> str:
        """``/path/`` for ``role/path/name``: what lies between the type and the name, starting
        and ending with ``/`` (IAM's path convention; ``/`` when there is nothing between)."""
        rest = self.resource.partition("/")[2]
        return ("/" + rest).rpartition("/")[0] + "/"


def parse_iam_arn(text: str, resource_types: tuple[str, ...], *, aws_account: bool = False) -> tuple[Arn, str, str, str]:
    """Strictly parse an IAM ARN of one of ``resource_types``: (arn, type, path, name).

    ``path`` starts and ends with ``/``; ``name`` is the last segment. Raises ``ArnError``
    for anything IAM would refuse (see the module docstring)."""
    if _ARN_TYPE.fullmatch(text) is None:
        raise ArnError(text, pattern=True)
    arn = Arn.parse(text)
    if arn is None or arn.partition != PARTITION or arn.service != "iam" or arn.region != "":
        raise ArnError(text)
    if _ACCOUNT.fullmatch(arn.account) is None and not (aws_account and arn.account == "aws"):
        raise ArnError(text)
    kind, path, name = arn.resource_type, arn.resource_path, arn.resource_name
    if "/" not in arn.resource or kind not in resource_types or not text.isascii():
        raise ArnError(text)
    if not name or "//" in path:
        raise ArnError(text)
    return arn, kind, path, name


def iam_arn(account: str, kind: str, path: str, name: str) -> str:
    """``arn:aws:iam::ACCOUNT:KIND/PATH/NAME`` with IAM's path convention (path starts and ends with /)."""
    return f"arn:aws:iam::{account}:{kind}{path}{name}"


def root_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:root"


def assumed_role_arn(account: str, role_name: str, session_name: str) -> str:
    return f"arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}"


def federated_user_arn(account: str, name: str) -> str:
    return f"arn:aws:sts::{account}:federated-user/{name}"


def is_aws_managed_policy(arn: str) -> bool:
    """Whether ``arn`` is (spelled as) an AWS managed policy's ARN."""
    return arn.startswith(AWS_MANAGED_POLICY_PREFIX)
