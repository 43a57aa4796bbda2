"""Session tags: AWS's rules for tags passed to AssumeRole/GetFederationToken and for
transitive tags inherited along a role chain
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html).

The model already bounds the count (50), lengths and character set; what remains is
AWS's semantic rules: no ``aws:`` keys, keys unique case-insensitively, transitive keys
must name passed tags, and a chained session may not restate an inherited transitive
tag. Keys compare case-insensitively everywhere; the spelling that wins is kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tessera.auth.caller import Caller, SessionTag
from tessera.errors import InvalidParameterValue


def audit_parameters(session_name: str, source_identity: str, tags: SessionTags) -> dict[str, Any]:
    """What CloudTrail records in ``requestParameters`` of a call whose session name,
    source identity and tags come from an assertion or token, not the request."""
    recorded: dict[str, Any] = {}
    if session_name:
        recorded["roleSessionName"] = session_name
    if source_identity:
        recorded["sourceIdentity"] = source_identity
    if tags.passed:
        recorded["principalTags"] = {tag.key: tag.value for tag in tags.passed}
    if tags.passed_transitive_keys:
        recorded["transitiveTagKeys"] = list(tags.passed_transitive_keys)
    return recorded


def role_resource(arn: str, account: str) -> dict[str, str]:
    """A role as an audit event's ``resources`` entry."""
    return {"ARN": arn, "accountId": account, "type": "AWS::IAM::Role"}


DUPLICATE_KEYS = "Duplicate tag keys found. Please note that Tag keys are case insensitive."


@dataclass(frozen=True, slots=True)
class SessionTags:
    """The tags a new session gets: ``passed`` in this request, ``inherited`` transitive
    tags of the calling session, and the keys that stay transitive down the chain."""

    passed: tuple[SessionTag, ...] = ()
    passed_transitive_keys: tuple[str, ...] = ()
    inherited: tuple[SessionTag, ...] = ()

    @property
    def requested(self) -> bool:
        """Whether the request itself passes tags (which then needs sts:TagSession)."""
        return bool(self.passed or self.passed_transitive_keys)

    @property
    def tagging(self) -> bool:
        """Whether the new session gets session tags at all, passed or inherited: AWS
        then requires ``sts:TagSession`` on the role, also when a chained call passes
        none and the tags are only the calling session's transitive ones."""
        return bool(self.passed or self.passed_transitive_keys or self.inherited)

    @property
    def all(self) -> tuple[SessionTag, ...]:
        """Every tag the session carries (inherited ones cannot clash with passed ones)."""
        return self.passed + self.inherited

    @property
    def transitive_keys(self) -> tuple[str, ...]:
        """Passed transitive keys, then inherited ones: inherited tags stay transitive."""
        return self.passed_transitive_keys + tuple(tag.key for tag in self.inherited)

    def request_context(self) -> dict[str, object]:
        """``aws:RequestTag/<k>``, ``aws:TagKeys`` and ``sts:TransitiveTagKeys`` of the request."""
        keys: dict[str, object] = {}
        if self.passed:
            for tag in self.passed:
                keys[f"aws:RequestTag/{tag.key}"] = tag.value
            keys["aws:TagKeys"] = [tag.key for tag in self.passed]
        if self.passed_transitive_keys:
            keys["sts:TransitiveTagKeys"] = list(self.passed_transitive_keys)
        return keys

    def resource_context(self, role_tags: Iterable[Mapping[str, str]]) -> dict[str, object]:
        """The target role's tags as ``aws:ResourceTag``/``iam:ResourceTag``, with inherited
        transitive tags replacing same-key role tags."""
        merged = merge_tags([SessionTag(t["Key"], t["Value"]) for t in role_tags], self.inherited)
        keys: dict[str, object] = {}
        for tag in merged:
            keys[f"aws:ResourceTag/{tag.key}"] = tag.value
            keys[f"iam:ResourceTag/{tag.key}"] = tag.value
        return keys


def session_tags(params: Mapping[str, Any], caller: Caller, *, allow_transitive: bool = True) -> SessionTags:
    """Validate the ``Tags``/``TransitiveTagKeys`` of a request against the calling session."""
    passed = tuple(SessionTag(t["Key"], t["Value"]) for t in params.get("Tags") or ())
    transitive = tuple(params.get("TransitiveTagKeys") or ()) if allow_transitive else ()
    _check_keys(passed)
    _check_transitive(passed, transitive)
    inherited = inherited_tags(caller)
    _check_no_restatement(passed, inherited)
    return SessionTags(passed, _spelled_as_passed(passed, transitive), inherited)


def inherited_tags(caller: Caller) -> tuple[SessionTag, ...]:
    """The transitive tags of the calling session (none for long-term credentials)."""
    session = caller.session
    if session is None or not session.transitive_tag_keys:
        return ()
    wanted = {key.lower() for key in session.transitive_tag_keys}
    return tuple(tag for tag in session.tags if tag.key.lower() in wanted)


def merge_tags(*layers: Sequence[SessionTag]) -> tuple[SessionTag, ...]:
    """Later layers override earlier ones key by key (case-insensitively)."""
    merged: dict[str, SessionTag] = {}
    for layer in layers:
        for tag in layer:
            merged[tag.key.lower()] = tag
    return tuple(merged.values())


def _check_keys(passed: Sequence[SessionTag]) -> None:
    seen: set[str] = set()
    for tag in passed:
        lowered = tag.key.lower()
        if lowered.startswith("aws:"):
            raise InvalidParameterValue(f"Tag key '{tag.key}' uses the reserved prefix 'aws:'.")
        if lowered in seen:
            raise InvalidParameterValue(DUPLICATE_KEYS)
        seen.add(lowered)


def _check_transitive(passed: Sequence[SessionTag], transitive: Sequence[str]) -> None:
    known = {tag.key.lower() for tag in passed}
    seen: set[str] = set()
    for key in transitive:
        if key.lower() not in known:
            raise InvalidParameterValue(f"Transitive tag key '{key}' is not one of the session tags passed.")
        if key.lower() in seen:
            raise InvalidParameterValue(DUPLICATE_KEYS)
        seen.add(key.lower())


def _check_no_restatement(passed: Sequence[SessionTag], inherited: Sequence[SessionTag]) -> None:
    inherited_keys = {tag.key.lower(): tag.key for tag in inherited}
    for tag in passed:
        if tag.key.lower() in inherited_keys:
            raise InvalidParameterValue(
                f"Session tag '{tag.key}' conflicts with the transitive session tag "
                f"'{inherited_keys[tag.key.lower()]}' inherited from the calling session."
            )


def _spelled_as_passed(passed: Sequence[SessionTag], transitive: Sequence[str]) -> tuple[str, ...]:
    """Transitive keys in the spelling of the tags they name."""
    spelling = {tag.key.lower(): tag.key for tag in passed}
    return tuple(spelling[key.lower()] for key in transitive)
