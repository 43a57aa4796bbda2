"""OpenID Connect identity providers: CreateOpenIDConnectProvider, GetOpenIDConnectProvider,
ListOpenIDConnectProviders, DeleteOpenIDConnectProvider, AddClientIDToOpenIDConnectProvider,
RemoveClientIDFromOpenIDConnectProvider, UpdateOpenIDConnectProviderThumbprint,
TagOpenIDConnectProvider, UntagOpenIDConnectProvider, ListOpenIDConnectProviderTags
(https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateOpenIDConnectProvider.html).

A provider is named by its URL: its identifier is the URL without ``https://``, the host
lower-cased and the path kept as given, a trailing slash included
(``token.actions.githubusercontent.com``, ``idp.example.com:8443/realms/main``,
``tenant.auth0.com/``: Auth0's issuers end in a slash), its ARN
``arn:aws:iam::<account>:oidc-provider/<identifier>``, and one URL is one provider
(EntityAlreadyExists). The record (``records.OidcProviderRecord``) is stored under the
identifier and the view holds it in ``AccountState.oidc_providers`` by the same key, so
AssumeRoleWithWebIdentity finds a token's issuer with no store read.

Every call that names a provider resolves its ARN to the stored record first and is
authorized on the stored ARN with the provider's tags as ``aws:ResourceTag/…``; its write
re-reads the record and refuses (ConcurrentModification) if it is no longer the one
authorized. An unknown ARN is NoSuchEntity for every call, DeleteOpenIDConnectProvider
included: its API reference calls it idempotent but lists NoSuchEntity among its errors,
and tools that delete providers (Terraform's AWS provider) expect that error for a
provider already gone.

Limits (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html):
``quotas.OIDC_PROVIDERS_PER_ACCOUNT`` providers, ``quotas.CLIENT_IDS_PER_OIDC_PROVIDER``
client ids each (LimitExceeded), ``quotas.THUMBPRINTS_PER_OIDC_PROVIDER`` thumbprints
(InvalidInput, as AWS answers a longer list).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from tessera.arn import ArnError, parse_iam_arn
from tessera.errors import (
    ConcurrentModificationException,
    InvalidInputException,
    LimitExceededException,
    NoSuchEntityException,
)
from tessera.services import records as R
from tessera.services.iam import providers, quotas
from tessera.services.iam.entities import account_of, account_state, arn_refused, iso, parse_time
from tessera.services.iam.entity_tags import TaggedResource, list_resource_tags, tag_resource, untag_resource
from tessera.services.iam.tags import authorize_creation, validate_request_tags
from tessera.services.request import OperationContext, operation

ARN_TYPE = "oidc-provider"
SCHEME = "https://"
URL_MAX_LENGTH = 255

# INVARIANT: both patterns are anchored by fullmatch and hold no nested quantifier over
# overlapping classes, so matching is linear in the (at most 255-character) URL.
#: A DNS host name in lower case: dot-separated labels of letters, digits and inner hyphens.
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")
#: One path segment: RFC 3986's ``pchar`` (unreserved, percent-encoded, sub-delims, ``:``, ``@``).
_SEGMENT = re.compile(r"(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})+")
_PORT = re.compile(r"[1-9][0-9]{0,4}")
_THUMBPRINT = re.compile(r"[0-9a-fA-F]{40}")


# -- identifiers and ARNs ---------------------------------------------------------------
def _bad_url(url: str, why: str) -> InvalidInputException:
    return InvalidInputException(f"Invalid OpenID Connect provider URL {url}: {why}.")


def provider_identifier(url: str) -> str:
    """The identifier of the provider at ``url``, ``HOST[:PORT]/PATH``; InvalidInput for a URL
    IAM refuses. AWS's rules: ``https://`` only, no query or fragment, at most 255
    characters; the host is case-insensitive (lower-cased here) and the path is kept as
    given, a trailing slash included (``https://tenant.auth0.com/`` is
    ``tenant.auth0.com/``, another provider than ``tenant.auth0.com``). A port is
    accepted (AWS refuses one)."""
    if len(url) > URL_MAX_LENGTH:
        raise _bad_url(url, f"it must be at most {URL_MAX_LENGTH} characters")
    if not url.isascii() or url[: len(SCHEME)].lower() != SCHEME:
        raise _bad_url(url, "it must begin with https://")
    rest = url[len(SCHEME) :]
    if "?" in rest or "#" in rest:
        raise _bad_url(url, "it must not have a query or a fragment")
    authority, _, path = rest.partition("/")
    host, colon, port = authority.partition(":")
    host = host.lower()
    if len(host) > 253 or _HOST.fullmatch(host) is None:
        raise _bad_url(url, "it must name a host")
    if colon and (_PORT.fullmatch(port) is None or int(port) > 65535):
        raise _bad_url(url, "its port must be a number from 1 to 65535")
    trailing = "/" if rest.endswith("/") else ""
    segments = path.removesuffix("/").split("/") if path else []
    if any(s in (".", "..") or _SEGMENT.fullmatch(s) is None for s in segments):
        raise _bad_url(url, "its path must be non-empty segments of URL characters")
    return "/".join([f"{host}{colon}{port}", *segments]) + trailing


def provider_arn(account: str, identifier: str) -> str:
    return f"arn:aws:iam::{account}:{ARN_TYPE}/{identifier}"


def parse_provider_arn(arn: str, member: str = "openIDConnectProviderArn") -> tuple[str, str]:
    """(account, identifier) of an OIDC provider ARN, read as strictly as IAM reads ARNs
    (``arn.parse_iam_arn``): ValidationError for characters outside the model's
    ``arnType`` pattern, InvalidInput for anything else that is not such an ARN. The
    identifier's host is lower-cased, as stored."""
    slash = "/" if arn.endswith("/") else ""  # kept as registered (``tenant.auth0.com/``)
    try:
        parsed, _, _, _ = parse_iam_arn(arn.removesuffix("/"), (ARN_TYPE,))
    except ArnError as e:
        raise arn_refused(arn, member, e) from e
    written = parsed.resource[len(ARN_TYPE) + 1 :] + slash
    try:
        identifier = provider_identifier(SCHEME + written)
    except InvalidInputException as e:
        raise InvalidInputException(f"ARN {arn} is not valid.") from e
    return parsed.account, identifier


# -- resolution -------------------------------------------------------------------------
OidcProvider = providers.Provider[R.OidcProviderRecord]  # key: the identifier


def resolve_provider(ctx: OperationContext, arn: str) -> OidcProvider:
    account, identifier = parse_provider_arn(arn)
    state = account_state(ctx) if account == account_of(ctx) else None
    rec = state.oidc_providers.get(identifier) if state is not None else None
    return providers.Provider(identifier, provider_arn(account, identifier), rec)


def _same(rec: R.OidcProviderRecord, authorized: R.OidcProviderRecord) -> bool:
    return rec["create_date"] == authorized["create_date"] and rec["tags"] == authorized["tags"]


def _changed(provider: OidcProvider, _: R.OidcProviderRecord) -> ConcurrentModificationException:
    return ConcurrentModificationException(
        f"The OpenID Connect provider {provider.arn} changed while the request was processed. Please retry."
    )


KIND = providers.ProviderKind(
    R.OIDC_PROVIDER,
    lambda data: R.load(R.OIDC_PROVIDER, data),
    lambda provider: NoSuchEntityException(f"OpenIDConnect Provider not found for arn {provider.arn}"),
    _same,
    _changed,
)
authorize_provider = KIND.authorize
require_resolved_provider = KIND.require_resolved
require_provider = KIND.require


# -- client ids and thumbprints -----------------------------------------------------------
def _client_ids(values: Iterable[str]) -> list[str]:
    """The client ids, each once, in the order given; LimitExceeded past the quota."""
    out = list(dict.fromkeys(values))
    if len(out) > quotas.CLIENT_IDS_PER_OIDC_PROVIDER:
        raise LimitExceededException(f"Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {quotas.CLIENT_IDS_PER_OIDC_PROVIDER}")
    return out


def _thumbprints(values: Sequence[str]) -> list[str]:
    """The thumbprints in lower case, each once; InvalidInput for one that is not 40 hex
    digits, or more than the quota."""
    for value in values:
        if _THUMBPRINT.fullmatch(value) is None:
            raise InvalidInputException(f"Thumbprint {value} is not valid: it must be 40 hexadecimal digits.")
    out = list(dict.fromkeys(v.lower() for v in values))
    if len(out) > quotas.THUMBPRINTS_PER_OIDC_PROVIDER:
        raise InvalidInputException(f"The thumbprint list can hold at most {quotas.THUMBPRINTS_PER_OIDC_PROVIDER} thumbprints.")
    return out


# -- operations ---------------------------------------------------------------------------
@operation("iam", "CreateOpenIDConnectProvider")
def create_open_id_connect_provider(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    identifier = provider_identifier(params["Url"])
    arn = provider_arn(account, identifier)
    client_ids = _client_ids(params.get("ClientIDList") or [])
    thumbprints = _thumbprints(params.get("ThumbprintList") or [])
    tags = validate_request_tags(params.get("Tags") or [])
    authorize_creation(ctx, "iam:CreateOpenIDConnectProvider", "iam:TagOpenIDConnectProvider", arn, tags)
    rec: R.OidcProviderRecord = {
        "url": identifier,
        "client_ids": client_ids,
        "thumbprints": thumbprints,
        "create_date": iso(ctx.now),
        "tags": tags,
    }
    KIND.insert(
        ctx,
        account,
        identifier,
        rec,
        (quotas.OIDC_PROVIDERS_PER_ACCOUNT, "OpenIdConnectProvidersPerAccount"),
        f"Provider with url {SCHEME}{identifier} already exists.",
    )
    out: dict[str, Any] = {"OpenIDConnectProviderArn": arn}
    if tags:
        out["Tags"] = tags
    return out


@operation("iam", "GetOpenIDConnectProvider", read_only=True)
def get_open_id_connect_provider(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    provider = resolve_provider(ctx, params["OpenIDConnectProviderArn"])
    authorize_provider(ctx, "iam:GetOpenIDConnectProvider", provider)
    rec = require_resolved_provider(provider)
    return {
        "Url": rec["url"],
        "ClientIDList": list(rec["client_ids"]),
        "ThumbprintList": list(rec["thumbprints"]),
        "CreateDate": parse_time(rec["create_date"]),
        "Tags": list(rec["tags"]),
    }


@operation("iam", "ListOpenIDConnectProviders", read_only=True)
def list_open_id_connect_providers(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    """Every provider of the account by ARN (the operation has no paging); authorized on
    ``*``, as the action names no resource type."""
    ctx.authorize("iam:ListOpenIDConnectProviders", "*")
    state = account_state(ctx)
    account = account_of(ctx)
    arns = sorted(provider_arn(account, key) for key in (state.oidc_providers if state is not None else ()))
    return {"OpenIDConnectProviderList": [{"Arn": arn} for arn in arns]}


@operation("iam", "DeleteOpenIDConnectProvider")
def delete_open_id_connect_provider(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    provider = resolve_provider(ctx, params["OpenIDConnectProviderArn"])
    authorize_provider(ctx, "iam:DeleteOpenIDConnectProvider", provider)
    with ctx.write(account) as tx:
        rec = require_provider(tx, account, provider)
        tx.delete(account, R.OIDC_PROVIDER, rec["url"])
    return {}


@operation("iam", "AddClientIDToOpenIDConnectProvider")
def add_client_id(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    """Adding a client id the provider already has changes nothing (AWS: not an error)."""
    account = account_of(ctx)
    provider = resolve_provider(ctx, params["OpenIDConnectProviderArn"])
    authorize_provider(ctx, "iam:AddClientIDToOpenIDConnectProvider", provider)
    with ctx.write(account) as tx:
        rec = require_provider(tx, account, provider)
        if params["ClientID"] not in rec["client_ids"]:
            rec["client_ids"] = _client_ids([*rec["client_ids"], params["ClientID"]])
            tx.update(account, R.OIDC_PROVIDER, rec["url"], rec)
    return {}


@operation("iam", "RemoveClientIDFromOpenIDConnectProvider")
def remove_client_id(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    """Removing a client id the provider does not have changes nothing (AWS: not an error)."""
    account = account_of(ctx)
    provider = resolve_provider(ctx, params["OpenIDConnectProviderArn"])
    authorize_provider(ctx, "iam:RemoveClientIDFromOpenIDConnectProvider", provider)
    with ctx.write(account) as tx:
        rec = require_provider(tx, account, provider)
        if params["ClientID"] in rec["client_ids"]:
            rec["client_ids"] = [c for c in rec["client_ids"] if c != params["ClientID"]]
            tx.update(account, R.OIDC_PROVIDER, rec["url"], rec)
    return {}


@operation("iam", "UpdateOpenIDConnectProviderThumbprint")
def update_thumbprint(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    """Replace the provider's thumbprints with the list given."""
    account = account_of(ctx)
    provider = resolve_provider(ctx, params["OpenIDConnectProviderArn"])
    thumbprints = _thumbprints(params.get("ThumbprintList") or [])
    authorize_provider(ctx, "iam:UpdateOpenIDConnectProviderThumbprint", provider)
    with ctx.write(account) as tx:
        rec = require_provider(tx, account, provider)
        rec["thumbprints"] = thumbprints
        tx.update(account, R.OIDC_PROVIDER, rec["url"], rec)
    return {}


TAGGED = TaggedResource(
    R.OIDC_PROVIDER,
    "OpenID Connect provider",
    "OpenIDConnectProvider",
    "OpenIDConnectProviderArn",
    resolve_provider,
    authorize_provider,
    require_provider,
    require_resolved_provider,
    ident=lambda rec: str(rec["url"]),
    key=lambda rec: str(rec["url"]),
)


@operation("iam", "TagOpenIDConnectProvider")
def tag_open_id_connect_provider(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return tag_resource(ctx, params, TAGGED)


@operation("iam", "UntagOpenIDConnectProvider")
def untag_open_id_connect_provider(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return untag_resource(ctx, params, TAGGED)


@operation("iam", "ListOpenIDConnectProviderTags", read_only=True)
def list_open_id_connect_provider_tags(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return list_resource_tags(ctx, params, TAGGED)
