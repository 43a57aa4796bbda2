"""SAML identity providers: CreateSAMLProvider, GetSAMLProvider, ListSAMLProviders,
UpdateSAMLProvider, DeleteSAMLProvider, TagSAMLProvider, UntagSAMLProvider,
ListSAMLProviderTags
(https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateSAMLProvider.html).

A provider is named uniquely in the account (case-insensitively) and has the ARN
``arn:aws:iam::<account>:saml-provider/<name>``; requests name it by that ARN. Its
metadata document must be an IdP's ``md:EntityDescriptor`` with at least one signing
certificate (``tessera.auth.saml.parse_metadata``; InvalidInput "Could not parse
metadata" otherwise); the entity id and certificates it gives are what
AssumeRoleWithSAML verifies assertions against. At most
``SAML_PROVIDERS_PER_ACCOUNT`` per account.

Private keys (``AddPrivateKey``, at most two, sealed under
``saml-provider-key:<uuid>:<key id>``) and ``AssertionEncryptionMode`` are kept and
reported as IAM does; Tessera does not decrypt encrypted assertions, so a provider
whose mode is ``Required`` accepts none (docs/federation.md).
"""

from __future__ import annotations

import secrets
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from tessera.arn import ArnError, parse_iam_arn
from tessera.auth.saml import parse_metadata
from tessera.errors import (
    ConcurrentModificationException,
    InvalidInputException,
    LimitExceededException,
    NoSuchEntityException,
    ValidationError,
)
from tessera.services import records as R
from tessera.services.iam import providers, quotas
from tessera.services.iam.entities import account_of, account_state, entity_arn, iso, parse_time
from tessera.services.iam.entity_tags import TaggedResource, list_resource_tags, tag_resource, untag_resource
from tessera.services.iam.tags import authorize_creation, validate_request_tags
from tessera.services.request import OperationContext, operation
from tessera.services.view import name_key

ARN_TYPE = "saml-provider"
PRIVATE_KEYS_PER_PROVIDER = 2
CERTIFICATES_PER_PROVIDER = 10
"""Signing certificates a provider's metadata may hold: IAM's quota of keys per SAML
provider (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html).
Each is tried on every AssumeRoleWithSAML that names the provider, so the bound is also
the most signature checks one unsigned call can cost."""
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
BAD_METADATA = "Could not parse metadata."


SamlProvider = providers.Provider[R.SamlProviderRecord]  # key: name_key(name)


def _new_id(length: int) -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def _resolve(ctx: OperationContext, arn: str) -> SamlProvider:
    """The provider ``arn`` names in the caller's account (a malformed ARN is refused;
    one of another account names nothing here)."""
    try:
        parsed, _, path, name = parse_iam_arn(arn, (ARN_TYPE,))
    except ArnError as e:
        raise (ValidationError if e.pattern else InvalidInputException)(str(e)) from e
    if path != "/" or not name:
        raise InvalidInputException(f"ARN {arn} is not valid.")
    state = account_state(ctx)
    rec = state.saml_providers.get(name_key(name)) if state is not None and parsed.account == account_of(ctx) else None
    if rec is not None and rec["arn"] == arn:
        return providers.Provider(name_key(rec["name"]), rec["arn"], rec)
    return providers.Provider(name_key(name), arn, None)


def _same(rec: R.SamlProviderRecord, authorized: R.SamlProviderRecord) -> bool:
    return rec["uuid"] == authorized["uuid"] and rec["tags"] == authorized["tags"]


def _changed(_: SamlProvider, authorized: R.SamlProviderRecord) -> ConcurrentModificationException:
    return ConcurrentModificationException(f"The SAML provider {authorized['name']} changed while the request was processed. Please retry.")


# a provider whose ARN is spelled otherwise than the stored one (names are
# case-insensitive, ARNs are not) resolves to no record: the ARN given names no provider
KIND = providers.ProviderKind(
    R.SAML_PROVIDER,
    lambda data: R.load(R.SAML_PROVIDER, data),
    lambda provider: NoSuchEntityException(f"SAMLProvider {provider.arn} does not exist."),
    _same,
    _changed,
)


def _metadata_fields(document: str) -> tuple[str, list[str], str | None]:
    try:
        meta = parse_metadata(document)
    except ValueError as e:
        raise InvalidInputException(BAD_METADATA) from e
    if len(meta.certificates) > CERTIFICATES_PER_PROVIDER:
        raise LimitExceededException(
            f"The metadata document holds {len(meta.certificates)} signing certificates; "
            f"a SAML provider takes at most {CERTIFICATES_PER_PROVIDER}."
        )
    return meta.entity_id, list(meta.certificates), iso(meta.valid_until) if meta.valid_until else None


def _check_private_key(pem: str) -> None:
    try:
        load_pem_private_key(pem.encode("latin-1"), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise InvalidInputException("Invalid private key.") from e


def _add_key(ctx: OperationContext, rec: R.SamlProviderRecord, pem: str) -> None:
    if len(rec["private_keys"]) >= PRIVATE_KEYS_PER_PROVIDER:
        raise LimitExceededException(f"Private key limit of {PRIVATE_KEYS_PER_PROVIDER} is reached.")
    key_id = _new_id(26)
    sealed = ctx.runtime.secret_box.seal(pem, context=f"saml-provider-key:{rec['uuid']}:{key_id}")
    rec["private_keys"].append({"id": key_id, "key_sealed": sealed, "added": iso(ctx.now)})


def _check_mode(mode: str, rec: R.SamlProviderRecord) -> None:
    if mode == "Required" and not rec["private_keys"]:
        raise InvalidInputException("Unable to set assertion encryption mode to Required because no private key is provided.")


@operation("iam", "CreateSAMLProvider")
def create_saml_provider(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account, name = account_of(ctx), params["Name"]
    arn = entity_arn(account, ARN_TYPE, "/", name)
    tags = validate_request_tags(params.get("Tags") or [])
    authorize_creation(ctx, "iam:CreateSAMLProvider", "iam:TagSAMLProvider", arn, tags)
    document = params["SAMLMetadataDocument"]
    entity_id, certificates, valid_until = _metadata_fields(document)
    key = params.get("AddPrivateKey")
    if key is not None:
        _check_private_key(key)
    rec: R.SamlProviderRecord = {
        "name": name,
        "arn": arn,
        "uuid": _new_id(26),
        "metadata": document,
        "entity_id": entity_id,
        "certificates": certificates,
        "valid_until": valid_until,
        "encryption_mode": params.get("AssertionEncryptionMode") or "Allowed",
        "private_keys": [],
        "created": iso(ctx.now),
        "tags": tags,
    }
    if key is not None:
        _add_key(ctx, rec, key)
    _check_mode(rec["encryption_mode"], rec)
    quota = (quotas.SAML_PROVIDERS_PER_ACCOUNT, "SAMLProvidersPerAccount")
    KIND.insert(ctx, account, name_key(name), rec, quota, f"SAMLProvider {name} already exists.")
    out: dict[str, Any] = {"SAMLProviderArn": arn}
    if tags:
        out["Tags"] = tags
    return out


@operation("iam", "GetSAMLProvider", read_only=True)
def get_saml_provider(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    provider = _resolve(ctx, params["SAMLProviderArn"])
    KIND.authorize(ctx, "iam:GetSAMLProvider", provider)
    rec = KIND.require_resolved(provider)
    out: dict[str, Any] = {
        "SAMLProviderUUID": rec["uuid"],
        "SAMLMetadataDocument": rec["metadata"],
        "CreateDate": parse_time(rec["created"]),
        "AssertionEncryptionMode": rec["encryption_mode"],
        "Tags": list(rec["tags"]),
    }
    if rec["valid_until"]:
        out["ValidUntil"] = parse_time(rec["valid_until"])
    if rec["private_keys"]:
        out["PrivateKeyList"] = [{"KeyId": k["id"], "Timestamp": parse_time(k["added"])} for k in rec["private_keys"]]
    return out


@operation("iam", "ListSAMLProviders", read_only=True)
def list_saml_providers(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("iam:ListSAMLProviders", "*")
    state = account_state(ctx)
    providers = sorted(state.saml_providers.values() if state is not None else (), key=lambda p: name_key(p["name"]))
    entries = []
    for rec in providers:
        entry: dict[str, Any] = {"Arn": rec["arn"], "CreateDate": parse_time(rec["created"])}
        if rec["valid_until"]:
            entry["ValidUntil"] = parse_time(rec["valid_until"])
        entries.append(entry)
    return {"SAMLProviderList": entries}


@operation("iam", "UpdateSAMLProvider")
def update_saml_provider(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    provider = _resolve(ctx, params["SAMLProviderArn"])
    KIND.authorize(ctx, "iam:UpdateSAMLProvider", provider)
    KIND.require_resolved(provider)
    document, mode = params.get("SAMLMetadataDocument"), params.get("AssertionEncryptionMode")
    add, remove = params.get("AddPrivateKey"), params.get("RemovePrivateKey")
    if document is None and mode is None and add is None and remove is None:
        raise InvalidInputException("Unable to update identity provider. No updates are defined for metadata or encryption assertion.")
    if add is not None and remove is not None:
        raise InvalidInputException(
            "Unable to add and remove private keys in the same request. Set a value for only one of the two parameters."
        )
    metadata = _metadata_fields(document) if document is not None else None
    if add is not None:
        _check_private_key(add)
    with ctx.write(account) as tx:
        rec = KIND.require(tx, account, provider)
        if document is not None and metadata is not None:
            rec["metadata"] = document
            rec["entity_id"], rec["certificates"], rec["valid_until"] = metadata
        if add is not None:
            _add_key(ctx, rec, add)
        if remove is not None:
            kept = [k for k in rec["private_keys"] if k["id"] != remove]
            if len(kept) == len(rec["private_keys"]):
                raise InvalidInputException("Failed to remove private key because the Key ID does not match a private key.")
            rec["private_keys"] = kept
        if mode is not None:
            rec["encryption_mode"] = mode
        _check_mode(rec["encryption_mode"], rec)
        tx.update(account, R.SAML_PROVIDER, name_key(rec["name"]), rec)
    return {"SAMLProviderArn": provider.arn}


@operation("iam", "DeleteSAMLProvider")
def delete_saml_provider(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    provider = _resolve(ctx, params["SAMLProviderArn"])
    KIND.authorize(ctx, "iam:DeleteSAMLProvider", provider)
    with ctx.write(account) as tx:
        rec = KIND.require(tx, account, provider)
        tx.delete(account, R.SAML_PROVIDER, name_key(rec["name"]))
    return {}


TAGGED = TaggedResource(
    R.SAML_PROVIDER,
    "SAML provider",
    "SAMLProvider",
    "SAMLProviderArn",
    _resolve,
    KIND.authorize,
    KIND.require,
    KIND.require_resolved,
)


@operation("iam", "TagSAMLProvider")
def tag_saml_provider(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return tag_resource(ctx, params, TAGGED)


@operation("iam", "UntagSAMLProvider")
def untag_saml_provider(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return untag_resource(ctx, params, TAGGED)


@operation("iam", "ListSAMLProviderTags", read_only=True)
def list_saml_provider_tags(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return list_resource_tags(ctx, params, TAGGED)
