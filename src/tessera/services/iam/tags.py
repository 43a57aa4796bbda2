"""Tags on IAM users, roles, policies and MFA devices, and the condition keys they feed.

IAM treats tag keys case-insensitively for uniqueness (``Dept`` and ``dept`` are the
same tag; the spelling last written is kept) and reserves the ``aws:`` prefix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tessera.errors import InvalidInputException, LimitExceededException
from tessera.services.iam import quotas
from tessera.services.request import OperationContext

Tag = dict[str, str]


def validate_request_tags(tags: Sequence[Mapping[str, Any]]) -> list[Tag]:
    """The tags of a request as plain dicts; InvalidInput for reserved or duplicate keys."""
    seen: set[str] = set()
    out: list[Tag] = []
    for tag in tags:
        key, value = str(tag["Key"]), str(tag.get("Value", ""))
        if key.lower().startswith("aws:"):
            raise InvalidInputException(f"Tag key '{key}' uses the reserved prefix 'aws:'.")
        if key.lower() in seen:
            raise InvalidInputException("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
        seen.add(key.lower())
        out.append({"Key": key, "Value": value})
    if len(out) > quotas.TAGS_PER_ENTITY:
        raise LimitExceededException(f"Cannot exceed quota for TagsPerEntity: {quotas.TAGS_PER_ENTITY}")
    return out


def merge_tags(existing: Iterable[Mapping[str, str]], new: Sequence[Tag], entity: str) -> list[Tag]:
    """``existing`` with ``new`` added or replacing same-key tags; at most 50 in all."""
    merged: dict[str, Tag] = {t["Key"].lower(): dict(t) for t in existing}
    for tag in new:
        merged[tag["Key"].lower()] = dict(tag)
    if len(merged) > quotas.TAGS_PER_ENTITY:
        raise LimitExceededException(f"The number of tags on {entity} would exceed the maximum of {quotas.TAGS_PER_ENTITY}.")
    return list(merged.values())


def remove_tags(existing: Iterable[Mapping[str, str]], keys: Iterable[str]) -> list[Tag]:
    """``existing`` without the given keys (absent keys are ignored, as AWS does)."""
    drop = {k.lower() for k in keys}
    return [dict(t) for t in existing if t["Key"].lower() not in drop]


def request_tag_context(tags: Sequence[Mapping[str, str]]) -> dict[str, object]:
    """``aws:RequestTag/<k>`` for each tag and ``aws:TagKeys`` (multivalued), when tags are passed."""
    if not tags:
        return {}
    context: dict[str, object] = {f"aws:RequestTag/{t['Key']}": t["Value"] for t in tags}
    context["aws:TagKeys"] = [t["Key"] for t in tags]
    return context


def authorize_creation(
    ctx: OperationContext,
    action: str,
    tag_action: str,
    arn: str,
    tags: Sequence[Mapping[str, str]],
    boundary: str | None = None,
) -> None:
    """Authorize a Create* call as AWS does: the action itself with the tags passed (and
    ``iam:PermissionsBoundary`` when one is set), plus the Tag* action when tags are
    passed, both on the new entity's ARN."""
    context = request_tag_context(tags)
    if boundary:
        context["iam:PermissionsBoundary"] = boundary
    ctx.authorize(action, arn, context=context)
    if tags:
        ctx.authorize(tag_action, arn, context=request_tag_context(tags))


def tag_keys_context(keys: Sequence[str]) -> dict[str, object]:
    """``aws:TagKeys`` for UntagX requests."""
    return {"aws:TagKeys": list(keys)} if keys else {}


def resource_tag_context(tags: Iterable[Mapping[str, str]]) -> dict[str, object]:
    """``aws:ResourceTag/<k>`` and ``iam:ResourceTag/<k>`` for the target's tags."""
    context: dict[str, object] = {}
    for tag in tags:
        context[f"aws:ResourceTag/{tag['Key']}"] = tag["Value"]
        context[f"iam:ResourceTag/{tag['Key']}"] = tag["Value"]
    return context
