"""The shapes of the records services keep in the store (``store.base``), in one place.

Every IAM record lives in its account's scope; keys are lower-cased names (IAM names
are unique case-insensitively) except where noted. Times are ISO-8601 UTC strings
(``"2026-01-02T03:04:05Z"``). Tags are lists of ``{"Key", "Value"}``.

kind ``account`` (key ``"account"``)
    {"id", "name", "email", "created", "status": "ACTIVE", "management": bool}
kind ``user``
    {"name", "id" (AIDA…), "path", "arn", "created", "tags", "inline_policies": {name: text},
     "attached": [policy arn, …], "boundary": arn | None, "groups": [group name, …]}
kind ``group``
    {"name", "id" (AGPA…), "path", "arn", "created", "inline_policies": {}, "attached": []}
kind ``role``
    {"name", "id" (AROA…), "path", "arn", "created", "trust_policy": text, "description",
     "max_session_duration": int, "boundary": arn | None, "tags", "inline_policies": {},
     "attached": []}
kind ``policy`` (customer managed)
    {"name", "id" (ANPA…), "path", "arn", "created", "updated", "description", "tags",
     "default_version": "v1", "next_version": int,
     "versions": {"v1": {"document": text, "created": iso}}}
kind ``instance_profile``
    {"name", "id" (AIPA…), "path", "arn", "created", "roles": [role name],
     "role_ids": [role id] (parallel to "roles": a role deleted and recreated under the
     same name is not the profile's), "tags"}
kind ``access_key`` (key: the access key id; root keys have user "")
    {"id", "user": name | "", "status": "Active" | "Inactive", "created",
     "secret_sealed"}  (last use lives in the store's usage table: services/usage.py)
kind ``mfa_device`` (key: the serial number ARN)
    {"serial", "name", "path", "seed_sealed", "user": name | None, "enabled_at": iso | None,
     "created", "tags", "last_counter": int}
kind ``login_profile`` (key: name_key(user name))
    {"user": user name, "user_id", "hash": argon2id hash (never the password), "created",
     "changed", "reset_required": bool, "previous": [older argon2id hashes, newest first, at
     most 24, for PasswordReusePrevention], "last_used": iso | None (console sign-in)}
kind ``password_policy`` (key ``"password_policy"``)
    {"minimum_length", "require_symbols", "require_numbers", "require_uppercase",
     "require_lowercase", "allow_users_to_change", "max_age": int | None,
     "reuse_prevention": int | None, "hard_expiry": bool | None}
kind ``credential_report`` (key ``"credential_report"``)
    {"generated": iso, "content": CSV text} (no secret in it: flags, dates and ARNs)
scope ``global``, kind ``account_alias`` (key: the alias; an alias is unique across every
    account this server holds, and an account has at most one)
    {"alias", "account", "created"}

kind ``signing_certificate`` (key: the certificate id; root's certificates have user "")
    {"id", "user": name | "", "body": PEM as uploaded, "status": "Active" | "Inactive",
     "uploaded", "sha256": hex digest of the DER (duplicate detection)}
kind ``ssh_public_key`` (key: the key id, APKA…)
    {"id", "user", "body": as uploaded (ssh-rsa or PEM), "fingerprint": MD5 of the key
     blob as colon-separated hex, "status", "uploaded"}
kind ``service_credential`` (key: the credential id, ACCA…)
    {"id", "user", "service": e.g. "codecommit.amazonaws.com", "service_user_name": str | None,
     "alias": str | None (API-key services), "password_sealed" (sealed under
     ``service-credential:<id>``), "status", "created", "expires": iso | None}
kind ``server_certificate`` (key: name_key(name))
    {"name", "id" (ASCA…), "path", "arn", "body": PEM, "chain": PEM | None, "key_sealed"
     (the private key, sealed under ``server-certificate:<id>``), "uploaded",
     "expiration", "tags"}
scope ``global``, kind ``token_key`` (key: key id)
    {"id", "secret_sealed", "created", "activates", "sequence"}: the key seals tokens from
    ``activates`` until a later key activates (services/keys.py)

scope ``global``: AWS Organizations (services/organizations/records.py; "o/" = "<org id>/")
    kind ``org`` (key: org id)
        {"id", "feature_set": "ALL" | "CONSOLIDATED_BILLING", "management_account",
         "management_email", "root_id", "root_tags", "policy_types": ["SERVICE_CONTROL_POLICY"],
         "created"}
    kind ``org_ou`` (key: "o/ou-…")
        {"id", "org", "name", "parent": r-… | ou-…, "created", "tags"}
    kind ``org_account`` (key: account id; an account is in at most one organization)
        {"id", "org", "name", "email", "state": "ACTIVE", "joined_method": "CREATED" | "INVITED",
         "joined", "parent", "tags"}
    kind ``org_policy`` (key: "o/p-…"; customer policies only — FullAWSAccess is implied)
        {"id", "org", "type": "SERVICE_CONTROL_POLICY", "name", "description", "content",
         "created", "tags"}
    kind ``org_attachment`` (key: "o/<target id>/<policy id>")
        {"org", "target", "policy", "attached"}
    kind ``org_create_account_status`` (key: car-… request id)
        {"id", "org", "account_name", "state": "IN_PROGRESS" | "SUCCEEDED" | "FAILED",
         "requested", "completed", "account_id", "failure_reason"}

Policy texts are stored exactly as submitted.
"""

ACCOUNT = "account"
USER = "user"
GROUP = "group"
ROLE = "role"
POLICY = "policy"
ACCESS_KEY = "access_key"
MFA_DEVICE = "mfa_device"
SIGNING_CERTIFICATE = "signing_certificate"
SSH_PUBLIC_KEY = "ssh_public_key"
SERVICE_CREDENTIAL = "service_credential"
SERVER_CERTIFICATE = "server_certificate"
INSTANCE_PROFILE = "instance_profile"

LOGIN_PROFILE = "login_profile"
PASSWORD_POLICY = "password_policy"
CREDENTIAL_REPORT = "credential_report"
ACCOUNT_ALIAS = "account_alias"
SIGNING_CERTIFICATE = "signing_certificate"  # written by the signing-certificate operations
TOKEN_KEY = "token_key"
ORG = "org"
ORG_OU = "org_ou"
ORG_ACCOUNT = "org_account"
ORG_POLICY = "org_policy"
ORG_ATTACHMENT = "org_attachment"
ORG_CREATE_ACCOUNT_STATUS = "org_create_account_status"
