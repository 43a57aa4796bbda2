"""The records services keep in the store (``store.base``): one ``TypedDict`` per kind.

Every IAM record lives in its account's scope; keys are lower-cased names (IAM names are
unique case-insensitively: ``state.name_key``) except where a kind says otherwise. Times
are ISO-8601 UTC strings (``"2026-01-02T03:04:05Z"``); tags are lists of ``{"Key",
"Value"}``; policy texts are stored exactly as submitted. Secrets are stored sealed
(``secrets.SecretBox``), each under a context naming its record. A field added after a
kind was first written is ``NotRequired`` (records of earlier versions lack it). The
Organizations kinds (GLOBAL scope) are here too; their keys and helpers are in
``services/organizations/records.py``.

The store hands back ``Mapping[str, Any]``; ``load(kind, data)`` is the one place where
such data becomes a typed record. No schema migration is needed for a new kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal, NotRequired, TypedDict, final, overload

Tag = dict[str, str]  # {"Key": …, "Value": …}


class AccountRecord(TypedDict):
    """kind ``account`` (key ``"account"``): the account itself."""

    id: str
    name: str
    email: str
    created: str
    status: str  # "ACTIVE"
    management: bool


@final  # no other keys, as for groups and roles: ``"groups" in rec`` tells a user
class UserRecord(TypedDict):
    """kind ``user``."""

    name: str
    id: str  # AIDA…
    path: str
    arn: str
    created: str
    tags: list[Tag]
    inline_policies: dict[str, str]  # policy name → text
    attached: list[str]  # managed policy ARNs
    boundary: str | None  # managed policy ARN
    groups: list[str]  # group names


@final  # no other keys: ``"tags" in rec`` tells a group from a user or role
class GroupRecord(TypedDict):
    """kind ``group`` (IAM groups have no tags and no permissions boundary)."""

    name: str
    id: str  # AGPA…
    path: str
    arn: str
    created: str
    inline_policies: dict[str, str]
    attached: list[str]


@final
class RoleRecord(TypedDict):
    """kind ``role``."""

    name: str
    id: str  # AROA…
    path: str
    arn: str
    created: str
    trust_policy: str  # as submitted
    #: The unique ids of the users and roles the trust policy names, by ARN
    #: (``services/trust.py``). Absent on roles written before trust policies bound their
    #: principals, and on the access role CreateAccount writes (which names an account).
    principal_ids: NotRequired[dict[str, str]]
    description: str  # "" when none
    max_session_duration: int  # seconds
    boundary: str | None
    tags: list[Tag]
    inline_policies: dict[str, str]
    attached: list[str]


class PolicyVersion(TypedDict):
    document: str
    created: str


class PolicyRecord(TypedDict):
    """kind ``policy``: a customer managed policy (AWS managed ones are package data)."""

    name: str
    id: str  # ANPA…
    path: str
    arn: str
    created: str
    updated: str
    description: str
    tags: list[Tag]
    default_version: str  # "v1"
    next_version: int
    versions: dict[str, PolicyVersion]  # "v1" → version


class InstanceProfileRecord(TypedDict):
    """kind ``instance_profile``."""

    name: str
    id: str  # AIPA…
    path: str
    arn: str
    created: str
    roles: list[str]  # role names
    #: Parallel to ``roles``: a role deleted and recreated under the same name is not
    #: the profile's.
    role_ids: list[str]
    tags: list[Tag]


class AccessKeyRecord(TypedDict):
    """kind ``access_key`` (key: the access key id). Last use lives in the store's usage
    table (services/usage.py); records written before that may still hold an unread
    ``last_used``."""

    id: str
    user: str  # "" for the root user's keys
    status: str  # "Active" | "Inactive"
    created: str
    seq: NotRequired[int]  # creation order among the owner's (1 + the highest); absent in older records (iam/paging.creation_key)
    secret_sealed: str  # under ``access-key:<id>``


class MfaDeviceRecord(TypedDict):
    """kind ``mfa_device`` (key: the serial number ARN)."""

    serial: str
    name: str
    path: str
    seed_sealed: str  # under ``mfa:<serial>``
    user: str | None  # None while unassigned
    enabled_at: str | None
    created: str
    tags: list[Tag]
    last_counter: int  # the last TOTP time step accepted (codes are single-use)


class LoginProfileRecord(TypedDict):
    """kind ``login_profile`` (key: name_key(user name))."""

    user: str  # user name
    user_id: str
    hash: str  # argon2id hash, never the password
    created: str
    changed: str
    reset_required: bool
    #: Older argon2id hashes, newest first, at most 24 (PasswordReusePrevention).
    previous: list[str]
    last_used: str | None  # console sign-in


class RootPasswordRecord(TypedDict):
    """kind ``root_password`` (key ``"root"``): the root user's console password, set by
    ``tessera accounts set-root-password`` (AWS sets it by e-mail, which Tessera has not)."""

    hash: str  # argon2id hash, never the password
    changed: str
    last_used: str | None  # console sign-in


class ConsoleSignoutRecord(TypedDict):
    """kind ``console_signout`` (key: the console session's ASIA access key id): a console
    session signed out before it expired, refused from then on by every node. Kept until
    ``expires`` (the session's own expiry), then pruned."""

    expires: str


class PasswordPolicyRecord(TypedDict):
    """kind ``password_policy`` (key ``"password_policy"``)."""

    minimum_length: int
    require_symbols: bool
    require_numbers: bool
    require_uppercase: bool
    require_lowercase: bool
    allow_users_to_change: bool
    max_age: int | None
    reuse_prevention: int | None
    hard_expiry: bool | None


class CredentialReportRecord(TypedDict):
    """kind ``credential_report`` (key ``"credential_report"``): no secret in it, only
    flags, dates and ARNs."""

    generated: str
    content: str  # CSV text


class AccountAliasRecord(TypedDict):
    """scope ``global``, kind ``account_alias`` (key: the alias; an alias is unique across
    every account this server holds, and an account has at most one)."""

    alias: str
    account: str
    created: str


class SigningCertificateRecord(TypedDict):
    """kind ``signing_certificate`` (key: the certificate id)."""

    id: str
    user: str  # "" for the root user's certificates
    body: str  # PEM as uploaded
    status: str  # "Active" | "Inactive"
    uploaded: str
    seq: NotRequired[int]  # creation order among the owner's (1 + the highest); absent in older records (iam/paging.creation_key)
    sha256: str  # hex digest of the DER (duplicate detection)


class SshPublicKeyRecord(TypedDict):
    """kind ``ssh_public_key`` (key: the key id, APKA…)."""

    id: str
    user: str
    body: str  # as uploaded (ssh-rsa or PEM)
    fingerprint: str  # MD5 of the key blob as colon-separated hex
    status: str
    uploaded: str
    seq: NotRequired[int]  # creation order among the owner's (1 + the highest); absent in older records (iam/paging.creation_key)


class ServiceCredentialRecord(TypedDict):
    """kind ``service_credential`` (key: the credential id, ACCA…)."""

    id: str
    user: str
    service: str  # e.g. "codecommit.amazonaws.com"
    service_user_name: str | None
    alias: str | None  # API-key services
    password_sealed: str  # under ``service-credential:<id>``
    status: str
    created: str
    seq: NotRequired[int]  # creation order among the owner's (1 + the highest); absent in older records (iam/paging.creation_key)
    expires: str | None


class ServerCertificateRecord(TypedDict):
    """kind ``server_certificate`` (key: name_key(name))."""

    name: str
    id: str  # ASCA…
    path: str
    arn: str
    body: str  # PEM
    chain: str | None  # PEM
    key_sealed: str  # the private key, under ``server-certificate:<id>``
    uploaded: str
    expiration: str
    tags: list[Tag]


class OidcProviderRecord(TypedDict):
    """kind ``oidc_provider`` (key: the provider's identifier, ``url``): an OpenID Connect
    identity provider (services/iam/oidc_providers.py). Its ARN is
    ``arn:aws:iam::<account>:oidc-provider/<url>``."""

    url: str  # "HOST[:PORT]/PATH": https:// stripped, host lower-cased, no trailing slash
    client_ids: list[str]  # audiences, in the order added
    thumbprints: list[str]  # SHA-1 of the IdP's certificate, 40 lower-case hex digits each
    create_date: str
    tags: list[Tag]


# -- SAML identity providers -----------------------------------------------------------


class SamlPrivateKey(TypedDict):
    id: str  # KeyId: upper-case letters and digits
    key_sealed: str  # PEM private key, under ``saml-provider-key:<provider uuid>:<id>``
    added: str


class SamlProviderRecord(TypedDict):
    """kind ``saml_provider`` (key: name_key(name)); services/iam/saml_providers.py."""

    name: str
    arn: str  # arn:aws:iam::<account>:saml-provider/<name>
    uuid: str  # SAMLProviderUUID
    metadata: str  # the SAMLMetadataDocument as submitted
    entity_id: str  # from the metadata: the Issuer assertions must carry
    certificates: list[str]  # the IdP's signing certificates (PEM), from the metadata
    valid_until: str | None  # the metadata's validUntil
    encryption_mode: str  # AssertionEncryptionMode: "Allowed" | "Required"
    private_keys: list[SamlPrivateKey]
    created: str
    tags: list[Tag]


class TokenKeyRecord(TypedDict):
    """scope ``global``, kind ``token_key`` (key: key id): the key seals tokens from
    ``activates`` until a later key activates (services/keys.py)."""

    id: str
    secret_sealed: str
    created: str
    activates: str
    sequence: int


ACCOUNT: Final = "account"
USER: Final = "user"
GROUP: Final = "group"
ROLE: Final = "role"
POLICY: Final = "policy"
ACCESS_KEY: Final = "access_key"
MFA_DEVICE: Final = "mfa_device"
SIGNING_CERTIFICATE: Final = "signing_certificate"
SSH_PUBLIC_KEY: Final = "ssh_public_key"
SERVICE_CREDENTIAL: Final = "service_credential"
SERVER_CERTIFICATE: Final = "server_certificate"
INSTANCE_PROFILE: Final = "instance_profile"
OIDC_PROVIDER: Final = "oidc_provider"
SAML_PROVIDER: Final = "saml_provider"

LOGIN_PROFILE: Final = "login_profile"
PASSWORD_POLICY: Final = "password_policy"
ROOT_PASSWORD: Final = "root_password"
CONSOLE_SIGNOUT: Final = "console_signout"
CREDENTIAL_REPORT: Final = "credential_report"
ACCOUNT_ALIAS: Final = "account_alias"
TOKEN_KEY: Final = "token_key"
ORG: Final = "org"
ORG_OU: Final = "org_ou"
ORG_ACCOUNT: Final = "org_account"
ORG_POLICY: Final = "org_policy"
ORG_ATTACHMENT: Final = "org_attachment"
ORG_CREATE_ACCOUNT_STATUS: Final = "org_create_account_status"


# -- the store boundary ---------------------------------------------------------------


# Organizations (scope GLOBAL; keys in services/organizations/records.py)


@final
class OrgRecord(TypedDict):
    """kind ``org`` (key: org id)."""

    id: str
    feature_set: str  # "ALL" | "CONSOLIDATED_BILLING"
    management_account: str
    management_email: str  # "" for a bootstrapped account without one
    root_id: str
    root_tags: list[Tag]
    policy_types: list[str]  # ["SERVICE_CONTROL_POLICY"] when enabled on the root
    created: str


@final
class OrgOuRecord(TypedDict):
    """kind ``org_ou`` (key: "o/ou-…")."""

    id: str
    org: str
    name: str
    parent: str  # r-… | ou-…
    created: str
    tags: list[Tag]


@final
class OrgAccountRecord(TypedDict):
    """kind ``org_account`` (key: account id; an account is in at most one organization)."""

    id: str
    org: str
    name: str
    email: str
    state: str  # "ACTIVE"
    joined_method: str  # "CREATED" | "INVITED"
    joined: str
    parent: str
    tags: list[Tag]


@final
class OrgPolicyRecord(TypedDict):
    """kind ``org_policy`` (key: "o/p-…"; customer policies only — FullAWSAccess is implied)."""

    id: str
    org: str
    type: str  # "SERVICE_CONTROL_POLICY"
    name: str
    description: str
    content: str  # as submitted
    created: str
    tags: list[Tag]


@final
class OrgAttachmentRecord(TypedDict):
    """kind ``org_attachment`` (key: "o/<target id>/<policy id>")."""

    org: str
    target: str
    policy: str
    attached: str


@final
class OrgCreateAccountStatusRecord(TypedDict):
    """kind ``org_create_account_status`` (key: car-… request id)."""

    id: str
    org: str
    account_name: str
    state: str  # "IN_PROGRESS" | "SUCCEEDED" | "FAILED"
    requested: str
    completed: str
    account_id: str | None
    failure_reason: str | None


@overload
def load(kind: Literal["account"], data: Mapping[str, Any]) -> AccountRecord: ...


@overload
def load(kind: Literal["user"], data: Mapping[str, Any]) -> UserRecord: ...


@overload
def load(kind: Literal["group"], data: Mapping[str, Any]) -> GroupRecord: ...


@overload
def load(kind: Literal["role"], data: Mapping[str, Any]) -> RoleRecord: ...


@overload
def load(kind: Literal["policy"], data: Mapping[str, Any]) -> PolicyRecord: ...


@overload
def load(kind: Literal["access_key"], data: Mapping[str, Any]) -> AccessKeyRecord: ...


@overload
def load(kind: Literal["mfa_device"], data: Mapping[str, Any]) -> MfaDeviceRecord: ...


@overload
def load(kind: Literal["signing_certificate"], data: Mapping[str, Any]) -> SigningCertificateRecord: ...


@overload
def load(kind: Literal["ssh_public_key"], data: Mapping[str, Any]) -> SshPublicKeyRecord: ...


@overload
def load(kind: Literal["service_credential"], data: Mapping[str, Any]) -> ServiceCredentialRecord: ...


@overload
def load(kind: Literal["server_certificate"], data: Mapping[str, Any]) -> ServerCertificateRecord: ...


@overload
def load(kind: Literal["instance_profile"], data: Mapping[str, Any]) -> InstanceProfileRecord: ...


@overload
def load(kind: Literal["oidc_provider"], data: Mapping[str, Any]) -> OidcProviderRecord: ...


@overload
def load(kind: Literal["saml_provider"], data: Mapping[str, Any]) -> SamlProviderRecord: ...


@overload
def load(kind: Literal["login_profile"], data: Mapping[str, Any]) -> LoginProfileRecord: ...


@overload
def load(kind: Literal["password_policy"], data: Mapping[str, Any]) -> PasswordPolicyRecord: ...


@overload
def load(kind: Literal["root_password"], data: Mapping[str, Any]) -> RootPasswordRecord: ...


@overload
def load(kind: Literal["console_signout"], data: Mapping[str, Any]) -> ConsoleSignoutRecord: ...


@overload
def load(kind: Literal["credential_report"], data: Mapping[str, Any]) -> CredentialReportRecord: ...


@overload
def load(kind: Literal["account_alias"], data: Mapping[str, Any]) -> AccountAliasRecord: ...


@overload
def load(kind: Literal["token_key"], data: Mapping[str, Any]) -> TokenKeyRecord: ...


@overload
def load(kind: Literal["org"], data: Mapping[str, Any]) -> OrgRecord: ...


@overload
def load(kind: Literal["org_ou"], data: Mapping[str, Any]) -> OrgOuRecord: ...


@overload
def load(kind: Literal["org_account"], data: Mapping[str, Any]) -> OrgAccountRecord: ...


@overload
def load(kind: Literal["org_policy"], data: Mapping[str, Any]) -> OrgPolicyRecord: ...


@overload
def load(kind: Literal["org_attachment"], data: Mapping[str, Any]) -> OrgAttachmentRecord: ...


@overload
def load(kind: Literal["org_create_account_status"], data: Mapping[str, Any]) -> OrgCreateAccountStatusRecord: ...


def load(kind: str, data: Mapping[str, Any]) -> Any:
    """``data`` read from the store under ``kind``, as that kind's typed record (the same
    object, not a copy: copy it before changing it). Every writer of a kind writes its
    ``TypedDict`` (mypy checks that), so this is where the untyped store data is trusted
    to hold what was written."""
    return data
