"""AssumeRoleWithWebIdentity: an OpenID Connect ID token in, a role session out
(https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html).

No signature is needed (the server dispatches the call unsigned; a signed one is
accepted too, and its signer plays no part). The token is the caller. Order of checks:

1. RoleArn well formed (ValidationError); ProviderId refused: it is for the OAuth 2.0
   access tokens of Login with Amazon and Facebook, which this server cannot verify;
2. the token: a compact JWS with an accepted algorithm and the claims STS needs
   (``tessera.auth.id_tokens``; InvalidIdentityToken);
3. its ``iss`` must be an OIDC provider registered in the role's account
   (``https://`` + the provider's identifier), whose keys are taken from the cache
   on the event loop or fetched in the thread pool (``request.needs_thread``;
   ``tessera.auth.oidc_keys``; IDPCommunicationError when the
   issuer cannot be reached, InvalidIdentityToken when it is not trusted or the key is
   unknown), then the signature, ``exp`` (ExpiredTokenException), ``nbf``/``iat``, and the
   audience (``azp`` when present, else ``aud``) against the provider's client ids;
4. session tags (claim ``https://aws.amazon.com/tags``) and source identity (claim
   ``https://aws.amazon.com/source_identity``), session policies and their packed size;
5. the role's trust policy for the provider's principal with ``sts:AssumeRoleWithWebIdentity``
   (and ``sts:TagSession``/``sts:SetSourceIdentity`` when the token carries tags or a source
   identity), with the provider's keys ``ID:aud``, ``ID:sub``, ``ID:azp``, ``ID:oaud``,
   ``ID:amr`` (ID: the provider's identifier) and ``aws:FederatedProvider``. An unknown role
   answers exactly as a role that does not trust the provider;
6. PolicyArns in the role's account, DurationSeconds against the role's MaxSessionDuration.

The session is an assumed-role session like AssumeRole's (same token, same revocation),
marked with its provider (``aws:FederatedProvider`` in its requests; CloudTrail's
``webIdFederationData``). The calling identity becomes a ``web-identity`` caller once its
token verified, which the audit event records as CloudTrail's ``WebIdentityUser``.
``assume_role_with_web_identity`` is also what the workload credentials endpoint runs.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from tessera.auth import id_tokens
from tessera.auth.caller import Caller
from tessera.errors import InvalidIdentityTokenException, InvalidParameterValue
from tessera.services import records as R
from tessera.services.iam.oidc_providers import provider_arn, provider_identifier
from tessera.services.request import OperationContext, needs_thread, operation
from tessera.services.sts.assume_role import Mfa, issue_role_session, role_session_duration, target_role, trust_context
from tessera.services.sts.credentials import session_window
from tessera.services.sts.session_policies import packed_policy_size, requested_session_policies, resolve_managed_policies
from tessera.services.sts.session_tags import SessionTags, audit_parameters, role_resource, session_tags

NO_TOKEN = "The Authorization header must carry the workload's OpenID Connect ID token."
TAGS_CLAIM = "https://aws.amazon.com/tags"
SOURCE_IDENTITY_CLAIM = "https://aws.amazon.com/source_identity"
PROVIDER_ID_REFUSED = (
    "ProviderId is only for the OAuth 2.0 access tokens of www.amazon.com and graph.facebook.com, "
    "which this server does not verify; omit it for OpenID Connect ID tokens."
)
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
_NOT_SESSION_NAME = re.compile(r"[^\w+=,.@-]", re.ASCII)
_TAG_PUNCTUATION = frozenset("_.:/=+-@")
GITHUB_CLAIM_KEYS = (
    "actor",
    "actor_id",
    "enterprise_id",
    "environment",
    "job_workflow_ref",
    "ref",
    "repository",
    "repository_id",
    "repository_owner_id",
    "workflow",
)
"""The GitHub Actions claims AWS makes condition keys of, besides ``aud`` and ``sub``
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-wif)."""
_GITHUB_ACTIONS = re.compile(r"token\.actions\.githubusercontent\.com(?:/.*)?|token\.actions\.[a-z0-9-]+\.ghe\.com")
_MAX_TAGS = 50


def record_signer(ctx: OperationContext) -> None:
    """The access key that signed a call served unsigned, kept for the audit trail as
    ``additionalEventData.signedBy``: the event's ``userIdentity`` is the federated user
    (as CloudTrail records it), and the signer, though it plays no part, is not lost."""
    signer = ctx.caller.access_key_id
    if signer:
        ctx.audit_data = {**(ctx.audit_data or {}), "signedBy": signer}


def anonymous(account: str = "") -> Caller:
    """The caller of a web identity request whose token has not verified (yet)."""
    return Caller(kind="web-identity", account=account, arn="", user_id="", name="", access_key_id="")


# inline: the provider's keys are most often cached; when they must be fetched the
# request moves to the thread pool (``needs_thread``); readOnly, as CloudTrail records it
@operation("sts", "AssumeRoleWithWebIdentity", inline=True, unsigned=True, read_only=True)
def assume_role_with_web_identity(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    runtime = ctx.runtime
    record_signer(ctx)
    role = target_role(runtime, params["RoleArn"])
    ctx.caller = anonymous(role.account)  # whoever signed (if anyone) plays no part
    ctx.audit_resources = [role_resource(role.arn, role.account)]
    if params.get("ProviderId") is not None:
        raise InvalidIdentityTokenException(PROVIDER_ID_REFUSED)
    # a workload fetch (server/workload.py) may come without a token or a session name:
    # refused, or named after the token's subject, once the role is known
    if not params.get("WebIdentityToken"):
        raise InvalidIdentityTokenException(NO_TOKEN)
    token = id_tokens.parse(params["WebIdentityToken"])
    if not params.get("RoleSessionName"):
        params["RoleSessionName"] = session_name_for(token.subject)
    provider = _provider(ctx, role.account, token.issuer)
    keys = runtime.oidc.cached(_issuer_url(provider), provider["thumbprints"], token.kid)
    if keys is None:  # to be fetched (or a failure to answer): blocking I/O
        needs_thread()
        keys = runtime.oidc.keys(_issuer_url(provider), provider["thumbprints"], token.kid, ctx.now)
    method = runtime.oidc.verification_method(_issuer_url(provider), provider["thumbprints"])
    if method is not None:
        ctx.audit_data = {**(ctx.audit_data or {}), "identityProviderConnectionVerificationMethod": method}
    id_tokens.verify_signature(token, keys)
    id_tokens.check_times(token.claims, ctx.now)
    client_id = id_tokens.audience(token.claims, provider["client_ids"])
    arn = provider_arn(role.account, provider["url"])
    subject = token.subject
    ctx.caller = Caller("web-identity", role.account, arn, f"{arn}:{client_id}:{subject}", subject, "")
    tags = claimed_tags(token.claims, ctx.caller)
    source_identity = claimed_source_identity(token.claims)
    ctx.audit_request = audit_parameters("", source_identity, tags)
    policies = requested_session_policies(runtime, params)
    packed = packed_policy_size(policies, tags.passed)
    context = trust_context(params, role, tags, source_identity, Mfa(False, None))
    context.update(provider_keys(provider["url"], token.claims, client_id))
    authorize = ctx.authorize_federated
    authorize(arn, "sts:AssumeRoleWithWebIdentity", role.arn, role.account, context, role.trust)
    if tags.tagging:
        authorize(arn, "sts:TagSession", role.arn, role.account, context, role.trust)
    if source_identity:
        authorize(arn, "sts:SetSourceIdentity", role.arn, role.account, context, role.trust)
    resolve_managed_policies(runtime, policies, role.account)
    duration = role_session_duration(params, role, chained=False)
    result = issue_role_session(
        ctx,
        role,
        params["RoleSessionName"],
        policies=policies,
        tags=tags,
        source_identity=source_identity,
        window=session_window(ctx.now, duration),
        packed=packed,
        federated_provider=arn,
    )
    result.update({"SubjectFromWebIdentityToken": subject, "Provider": arn, "Audience": client_id})
    return result


def _provider(ctx: OperationContext, account_id: str, issuer: str) -> R.OidcProviderRecord:
    """The provider of the role's account whose URL is exactly the token's ``iss``
    (``https://`` and the identifier: a trailing slash must match as registered)."""
    missing = InvalidIdentityTokenException(f"No OpenIDConnect provider found in your account for {issuer[:256]}")
    try:
        identifier = provider_identifier(issuer)
    except Exception:  # not a URL IAM would register: no provider can have it
        raise missing from None
    account = ctx.runtime.view.account(account_id)
    provider = account.oidc_providers.get(identifier) if account is not None else None
    if provider is None or _issuer_url(provider) != issuer:
        raise missing
    return provider


def _issuer_url(provider: R.OidcProviderRecord) -> str:
    return f"https://{provider['url']}"


def provider_keys(identifier: str, claims: Mapping[str, Any], client_id: str) -> dict[str, object]:
    """The condition keys of the provider's claims, named ``IDENTIFIER:claim``
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-wif):
    ``aud`` is the client id the token was accepted for (its ``azp`` when it has one,
    the original audience then in ``oaud``), ``sub``, ``azp`` and ``amr`` as claimed, and
    for GitHub Actions' issuers the claims of ``GITHUB_CLAIM_KEYS``."""
    keys: dict[str, object] = {f"{identifier}:aud": client_id, f"{identifier}:sub": str(claims["sub"])}
    azp = claims.get("azp")
    if isinstance(azp, str) and azp:
        keys[f"{identifier}:azp"] = azp
        aud = claims["aud"]
        keys[f"{identifier}:oaud"] = aud if isinstance(aud, str) else list(aud)
    amr = claims.get("amr")
    if isinstance(amr, str):
        keys[f"{identifier}:amr"] = [amr]
    elif isinstance(amr, list) and all(isinstance(v, str) for v in amr):
        keys[f"{identifier}:amr"] = list(amr)
    if _GITHUB_ACTIONS.fullmatch(identifier):
        for claim in GITHUB_CLAIM_KEYS:
            value = claims.get(claim)
            if isinstance(value, str | int) and not isinstance(value, bool):
                keys[f"{identifier}:{claim}"] = str(value)
    return keys


def claimed_tags(claims: Mapping[str, Any], caller: Caller) -> SessionTags:
    """Session tags from the ``https://aws.amazon.com/tags`` claim
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html#id_session-tags_adding-assume-role-idp):
    ``principal_tags`` maps each key to a list of one value, ``transitive_tag_keys`` lists
    keys that stay with role chaining. Held to the rules of tags passed to AssumeRole,
    a breach being the token's fault: InvalidIdentityToken (as for a SAML assertion)."""
    claim = claims.get(TAGS_CLAIM)
    if claim is None:
        return SessionTags()
    if not isinstance(claim, dict):
        raise _bad_tags("the claim must be a JSON object")
    principal_tags = claim.get("principal_tags", {})
    transitive = claim.get("transitive_tag_keys", [])
    if not isinstance(principal_tags, dict) or len(principal_tags) > _MAX_TAGS:
        raise _bad_tags(f"principal_tags must be an object of at most {_MAX_TAGS} tags")
    if not isinstance(transitive, list) or not all(isinstance(k, str) for k in transitive):
        raise _bad_tags("transitive_tag_keys must be a list of tag keys")
    tags = []
    for key, value in principal_tags.items():
        values = value if isinstance(value, list) else [value]
        if len(values) != 1 or not isinstance(values[0], str):
            raise _bad_tags(f"the value of tag '{key[:128]}' must be a list of one string")
        if not _valid_tag_text(key, 1, 128) or not _valid_tag_text(values[0], 0, 256):
            raise _bad_tags(f"tag '{key[:128]}' has a key or value that is not a valid session tag")
        tags.append({"Key": key, "Value": values[0]})
    try:
        return session_tags({"Tags": tags, "TransitiveTagKeys": transitive}, caller)
    except InvalidParameterValue as e:
        raise InvalidIdentityTokenException(e.message) from None


def claimed_source_identity(claims: Mapping[str, Any]) -> str:
    """The ``https://aws.amazon.com/source_identity`` claim, held to SourceIdentity's rules."""
    value = claims.get(SOURCE_IDENTITY_CLAIM)
    if value is None:
        return ""
    if not isinstance(value, str) or _SESSION_NAME.fullmatch(value) is None or value.lower().startswith("aws:"):
        raise InvalidIdentityTokenException(
            f"The claim {SOURCE_IDENTITY_CLAIM} must be 2 to 64 characters of letters, digits and _+=,.@- not beginning with aws:."
        )
    return value


def session_name_for(subject: str) -> str:
    """A RoleSessionName for a token's ``sub`` when none is given: the subject itself when
    it is a valid session name (2-64 of ``[\\w+=,.@-]``), otherwise its valid characters
    (others as ``-``, at most 47) followed by ``-`` and 16 hex digits of its SHA-256, so
    that distinct subjects keep distinct names and the same subject always gets the same."""
    if _SESSION_NAME.fullmatch(subject):
        return subject
    digest = hashlib.sha256(subject.encode("utf-8")).hexdigest()[:16]
    readable = _NOT_SESSION_NAME.sub("-", subject)[:47]
    return f"{readable}-{digest}" if readable else f"web-identity-{digest}"


def _valid_tag_text(text: str, shortest: int, longest: int) -> bool:
    """Session tag text: letters, digits, white space and ``_.:/=+-@`` (IAM's pattern)."""
    if not shortest <= len(text) <= longest:
        return False
    return all(c in _TAG_PUNCTUATION or unicodedata.category(c)[0] in "LNZ" for c in text)


def _bad_tags(why: str) -> InvalidIdentityTokenException:
    return InvalidIdentityTokenException(f"The claim {TAGS_CLAIM} is not valid: {why}.")
