"""AssumeRoleWithSAML (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithSAML.html).

An unsigned call: the SAML response is the credential. Order of checks:

1. the request's own parameters (inline session policy, number of policy ARNs);
2. the provider named by PrincipalArn must exist (InvalidIdentityToken "Specified
   provider doesn't exist.");
3. the response: signature by one of the provider's certificates, status, issuer,
   Destination/Recipient, Audience and validity window (``tessera.auth.saml``; only
   what the signature covers is read);
4. the assertion's attributes: the ``Role`` pair must name RoleArn and PrincipalArn
   (either order), ``RoleSessionName`` is required, ``SourceIdentity``,
   ``PrincipalTag:*``, ``TransitiveTagKeys`` and ``SessionDuration`` are optional;
5. the role's trust policy, for ``sts:AssumeRoleWithSAML`` by the federated principal
   (the provider ARN), then ``sts:TagSession`` and ``sts:SetSourceIdentity`` when used,
   with the ``SAML:*`` condition keys (IAM User Guide, "Available keys for SAML-based
   federation"); any refusal, an unknown role included, is AccessDenied "Not authorized
   to perform sts:AssumeRoleWithSAML";
6. ``PolicyArns`` in the role's account, then the duration.

Like AWS, an assertion may be presented more than once until it expires: AWS keeps no
record of assertions used, and neither does Tessera, except for one whose Conditions
carry ``<OneTimeUse/>``: that one is a claim in the store, accepted once by every
process and node sharing it (``StoreOneTimeUse``, docs/federation.md).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tessera.arn import ArnError, parse_iam_arn
from tessera.auth.caller import Caller
from tessera.auth.saml import USED_ONCE, Assertion, Expected, SamlExpired, SamlInvalid, SamlRejected, decode_response, verify_response
from tessera.errors import (
    AccessDenied,
    ExpiredTokenException,
    IDPRejectedClaimException,
    InvalidIdentityTokenException,
    InvalidParameterValue,
    ValidationError,
)
from tessera.policy import PolicySet, Principal, Request, evaluate
from tessera.services import records as R
from tessera.services.authorization import source_ip
from tessera.services.request import OperationContext, operation
from tessera.services.sts.assume_role import DEFAULT_DURATION, OVER_ROLE_MAX, TargetRole, issue_role_session, target_role
from tessera.services.sts.credentials import session_window
from tessera.services.sts.session_policies import packed_policy_size, requested_session_policies, resolve_managed_policies
from tessera.services.sts.session_tags import SessionTags, audit_parameters, role_resource, session_tags
from tessera.services.sts.web_identity import record_signer
from tessera.services.view import name_key
from tessera.store.base import Store

ATTRIBUTES = "https://aws.amazon.com/SAML/Attributes/"
ROLE = ATTRIBUTES + "Role"
SESSION_NAME = ATTRIBUTES + "RoleSessionName"
SESSION_DURATION = ATTRIBUTES + "SessionDuration"
SOURCE_IDENTITY = ATTRIBUTES + "SourceIdentity"
TRANSITIVE_TAG_KEYS = ATTRIBUTES + "TransitiveTagKeys"
PRINCIPAL_TAG = ATTRIBUTES + "PrincipalTag:"
_NAME = re.compile(r"[a-zA-Z_0-9+=,.@-]{2,64}")
NOT_AUTHORIZED = "Not authorized to perform sts:AssumeRoleWithSAML"
NO_PROVIDER = "Specified provider doesn't exist."
ANONYMOUS = Caller(kind="anonymous", account="", arn="", user_id="anonymous", name="", access_key_id="")
"""The caller of an unsigned request, until its assertion names one."""


def anonymous() -> Caller:
    """The caller of an unsigned request whose SAML response has not verified (yet)."""
    return ANONYMOUS


#: SAML attributes AWS maps to ``SAML:`` condition keys, by attribute name (OID URN):
#: key, and whether the key is multivalued (a list) or a single string
#: (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-saml).
_EDU_PERSON = "urn:oid:1.3.6.1.4.1.5923.1.1.1."
_EDU_ORG = "urn:oid:1.3.6.1.4.1.5923.1.2.1."
MAPPED_ATTRIBUTES: dict[str, tuple[str, bool]] = {
    _EDU_PERSON + "1": ("SAML:eduPersonAffiliation", True),
    _EDU_PERSON + "2": ("SAML:eduPersonNickname", True),
    _EDU_PERSON + "3": ("SAML:eduPersonOrgDN", False),
    _EDU_PERSON + "4": ("SAML:eduPersonOrgUnitDN", True),
    _EDU_PERSON + "5": ("SAML:eduPersonPrimaryAffiliation", False),
    _EDU_PERSON + "6": ("SAML:eduPersonPrincipalName", False),
    _EDU_PERSON + "7": ("SAML:eduPersonEntitlement", True),
    _EDU_PERSON + "8": ("SAML:eduPersonPrimaryOrgUnitDN", False),
    _EDU_PERSON + "9": ("SAML:eduPersonScopedAffiliation", True),
    _EDU_PERSON + "10": ("SAML:eduPersonTargetedID", True),
    _EDU_PERSON + "11": ("SAML:eduPersonAssurance", True),
    _EDU_ORG + "2": ("SAML:eduOrgHomePageURI", True),
    _EDU_ORG + "3": ("SAML:eduOrgIdentityAuthNPolicyURI", True),
    _EDU_ORG + "4": ("SAML:eduOrgLegalName", True),
    _EDU_ORG + "5": ("SAML:eduOrgSuperiorURI", True),
    _EDU_ORG + "6": ("SAML:eduOrgWhitePagesURI", True),
    "urn:oid:2.5.4.3": ("SAML:cn", True),
}


@dataclass(frozen=True, slots=True)
class SamlIdentity:
    """The verified assertion, as the trust policy and the response see it."""

    provider: R.SamlProviderRecord
    provider_account: str
    assertion: Assertion
    name_qualifier: str


def name_qualifier(issuer: str, account: str, provider_name: str) -> str:
    """``NameQualifier`` and ``SAML:namequalifier``: base64(SHA1(Issuer + account id +
    "/" + provider name)), as the API reference's pseudocode computes it
    (``BASE64(SHA1("https://example.com/saml" + "123456789012" + "/MySAMLIdP"))``)."""
    digest = hashlib.sha1((issuer + account + "/" + provider_name).encode("utf-8"), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode("ascii")


@operation("sts", "AssumeRoleWithSAML", unsigned=True, read_only=True)  # readOnly, as CloudTrail records it
def assume_role_with_saml(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    runtime = ctx.runtime
    record_signer(ctx)
    ctx.caller = ANONYMOUS  # whoever signed (if anyone) plays no part: the assertion is the credential
    policies = requested_session_policies(runtime, params)
    identity = _verified_identity(ctx, params["PrincipalArn"], params["SAMLAssertion"])
    assertion = identity.assertion
    ctx.caller = Caller(
        kind="saml-user",
        account=identity.provider_account,
        arn=identity.provider["arn"],
        user_id=f"{identity.name_qualifier}:{assertion.subject}",
        name=assertion.subject,
        access_key_id="",
    )
    _check_role_pair(assertion, params["RoleArn"], identity.provider["arn"])
    session_name = _session_name(assertion)
    source_identity = _source_identity(assertion)
    tags = _session_tags(assertion)
    ctx.audit_request = audit_parameters(session_name, source_identity, tags)
    packed = packed_policy_size(policies, tags.passed)
    try:
        role = target_role(runtime, params["RoleArn"])
    except ValidationError:
        raise AccessDenied(NOT_AUTHORIZED) from None
    provider = {"ARN": identity.provider["arn"], "accountId": identity.provider_account, "type": "AWS::IAM::SAMLProvider"}
    ctx.audit_resources = [role_resource(role.arn, role.account), provider]
    context = _trust_context(ctx, identity, session_name, source_identity, tags, role)
    _authorize(ctx, identity, role, context, tags, source_identity)
    record = role.record
    assert record is not None  # INVARIANT: authorization against NO_TRUST never allows
    resolve_managed_policies(runtime, policies, role.account)
    duration = _duration(params, assertion, record)
    issued, expires = session_window(ctx.now, duration)
    session_end = assertion.session_not_on_or_after
    if session_end is not None and session_end <= issued:
        raise ExpiredTokenException("The SAML session has ended (SessionNotOnOrAfter has passed).")
    if session_end is not None and session_end < expires:
        expires = session_end
    result = issue_role_session(
        ctx,
        role,
        session_name,
        policies=policies,
        tags=tags,
        source_identity=source_identity,
        window=(issued, expires),
        packed=packed,
    )
    result.update(
        {
            "Subject": assertion.subject,
            "SubjectType": assertion.subject_type,
            "Issuer": assertion.issuer,
            "Audience": assertion.recipient,
            "NameQualifier": identity.name_qualifier,
        }
    )
    return result


@dataclass(frozen=True, slots=True)
class StoreOneTimeUse:
    """The OneTimeUse assertions accepted, as claims in the store: one record for every
    process and node sharing it, so a second presentation is refused by whichever one it
    reaches. A claim's key is a SHA-256 of the issuer and the assertion ``ID`` (both
    chosen by the IdP: any length, any characters)."""

    store: Store

    KIND = "saml-one-time-use"

    def consume(self, issuer: str, assertion_id: str, until: dt.datetime, now: dt.datetime) -> None:
        key = hashlib.sha256(f"{len(issuer)}:{issuer}{assertion_id}".encode()).hexdigest()
        if not self.store.claim(self.KIND, key, until, now):
            raise SamlInvalid(USED_ONCE)


def _verified_identity(ctx: OperationContext, principal_arn: str, saml_assertion: str) -> SamlIdentity:
    """The provider PrincipalArn names and the assertion verified against it."""
    try:
        parsed, _, path, name = parse_iam_arn(principal_arn, ("saml-provider",))
    except ArnError as e:
        raise ValidationError(str(e)) from e
    state = ctx.runtime.view.account(parsed.account)
    provider = state.saml_providers.get(name_key(name)) if state is not None and path == "/" else None
    if provider is None or provider["arn"] != principal_arn:
        raise InvalidIdentityTokenException(NO_PROVIDER)
    if provider["encryption_mode"] == "Required":
        raise InvalidIdentityTokenException("The SAML provider requires encrypted assertions, which this service does not decrypt.")
    settings = ctx.runtime.settings
    try:
        root = decode_response(saml_assertion)
        assertion = verify_response(
            root,
            tuple(provider["certificates"]),
            provider["entity_id"],
            ctx.now,
            Expected(recipient=settings.saml_endpoint, audience=settings.saml_audience),
            StoreOneTimeUse(ctx.runtime.store),
        )
    except SamlInvalid as e:
        raise InvalidIdentityTokenException(str(e)) from None
    except SamlExpired as e:
        raise ExpiredTokenException(str(e)) from None
    except SamlRejected as e:
        raise IDPRejectedClaimException(str(e)) from None
    qualifier = name_qualifier(assertion.issuer, parsed.account, provider["name"])
    return SamlIdentity(provider, parsed.account, assertion, qualifier)


def _check_role_pair(assertion: Assertion, role_arn: str, provider_arn: str) -> None:
    """One ``Role`` value must be the pair RoleArn,PrincipalArn (in either order)."""
    wanted = {role_arn, provider_arn}
    for value in assertion.attributes.get(ROLE, ()):
        parts = [part.strip() for part in value.split(",")]
        if len(parts) == 2 and set(parts) == wanted:
            return
    raise AccessDenied(NOT_AUTHORIZED)


def _single(assertion: Assertion, name: str) -> str | None:
    values = assertion.attributes.get(name)
    return values[0] if values else None


def _session_name(assertion: Assertion) -> str:
    name = _single(assertion, SESSION_NAME)
    if name is None:
        raise InvalidIdentityTokenException("RoleSessionName is required in AuthnResponse")
    if _NAME.fullmatch(name) is None:
        raise InvalidIdentityTokenException("RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}")
    return name


def _source_identity(assertion: Assertion) -> str:
    value = _single(assertion, SOURCE_IDENTITY)
    if value is None:
        return ""
    if _NAME.fullmatch(value) is None or value.lower().startswith("aws:"):
        raise InvalidIdentityTokenException('Source Identity must match [a-zA-Z_0-9+=,.@-]{2,64} and not begin with "aws:"')
    return value


_TAG_KEY = re.compile(r"[\w\s.:/=+\-@]{1,128}")
_TAG_VALUE = re.compile(r"[\w\s.:/=+\-@]{0,256}")


def _session_tags(assertion: Assertion) -> SessionTags:
    """``PrincipalTag:<key>`` attributes (one value each) and ``TransitiveTagKeys``
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html#id_session-tags_adding-assume-role-saml)."""
    tags = []
    for name, values in assertion.attributes.items():
        if name.startswith(PRINCIPAL_TAG):
            key = name[len(PRINCIPAL_TAG) :]
            value = values[0] if values else ""
            if _TAG_KEY.fullmatch(key) is None or _TAG_VALUE.fullmatch(value) is None or len(values) > 1:
                raise InvalidIdentityTokenException(f"The session tag {key[:128]} in the SAML assertion is not valid.")
            tags.append({"Key": key, "Value": value})
    if len(tags) > 50:
        raise InvalidIdentityTokenException("The SAML assertion passes more than 50 session tags.")
    transitive = assertion.attributes.get(TRANSITIVE_TAG_KEYS, [])
    try:
        return session_tags({"Tags": tags, "TransitiveTagKeys": transitive}, ANONYMOUS)
    except InvalidParameterValue as e:
        raise InvalidIdentityTokenException(e.message) from None


def saml_context(identity: SamlIdentity) -> dict[str, object]:
    """The ``SAML:`` condition keys of a verified assertion."""
    assertion = identity.assertion
    keys: dict[str, object] = {
        "SAML:aud": assertion.recipient,
        "SAML:iss": assertion.issuer,
        "SAML:sub": assertion.subject,
        "SAML:sub_type": assertion.subject_type,
        "SAML:namequalifier": identity.name_qualifier,
        "SAML:doc": f"{identity.provider_account}/{identity.provider['name']}",
    }
    for attribute, values in assertion.attributes.items():
        mapped = MAPPED_ATTRIBUTES.get(attribute)
        if mapped is not None and values:
            key, multivalued = mapped
            keys[key] = list(values) if multivalued else values[0]
    return keys


def _trust_context(
    ctx: OperationContext,
    identity: SamlIdentity,
    session_name: str,
    source_identity: str,
    tags: SessionTags,
    role: TargetRole,
) -> dict[str, object]:
    info, now = ctx.info, ctx.now
    context: dict[str, object] = {
        "aws:CurrentTime": now,
        "aws:EpochTime": int(now.timestamp()),
        "aws:SourceIp": source_ip(info.source_ip),
        "aws:SecureTransport": info.secure_transport,
        "aws:RequestedRegion": info.region,
        "aws:UserAgent": info.user_agent[:1024],
        "aws:ResourceAccount": role.account,
        "sts:RoleSessionName": session_name,
    }
    context.update(saml_context(identity))
    if source_identity:
        context["sts:SourceIdentity"] = source_identity
    context.update(tags.request_context())
    if role.record is not None:
        context.update(tags.resource_context(role.record["tags"]))
    return context


def _authorize(
    ctx: OperationContext,
    identity: SamlIdentity,
    role: TargetRole,
    context: Mapping[str, object],
    tags: SessionTags,
    source_identity: str,
) -> None:
    """The trust policy alone decides: the federated principal has no identity policies."""
    principal = Principal(kind="web-identity", arn=identity.provider["arn"], account=identity.provider_account)
    actions = ["sts:AssumeRoleWithSAML"]
    if tags.tagging:
        actions.append("sts:TagSession")
    if source_identity:
        actions.append("sts:SetSourceIdentity")
    for action in actions:
        request = Request(principal=principal, action=action, resource=role.arn, resource_account=role.account, context=dict(context))
        decision = evaluate(request, PolicySet(resource=role.trust))
        ctx.decisions.append(decision)
        ctx.runtime.metrics.decision(decision.result.value)
        ctx.authorized = True
        if not decision.allowed:
            raise AccessDenied(f"Not authorized to perform {action}")


def _duration(params: Mapping[str, Any], assertion: Assertion, role: R.RoleRecord) -> int:
    """DurationSeconds (at most the role's MaxSessionDuration), else one hour; the
    assertion's SessionDuration may only shorten either: it extends console sessions,
    never API credentials
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_saml_assertions.html)."""
    role_max = int(role["max_session_duration"] or DEFAULT_DURATION)
    requested = params.get("DurationSeconds")
    if requested is not None and requested > role_max:
        raise ValidationError(OVER_ROLE_MAX)
    attribute = _single(assertion, SESSION_DURATION)
    from_assertion: int | None = None
    if attribute is not None:
        if not attribute.isascii() or not attribute.isdigit() or not 900 <= int(attribute) <= 43200:
            raise InvalidIdentityTokenException("SessionDuration in the SAML assertion must be a number of seconds from 900 to 43200.")
        from_assertion = int(attribute)
    duration = DEFAULT_DURATION if requested is None else int(requested)
    return duration if from_assertion is None else min(duration, from_assertion)
