"""IAM operations. Importing this package registers every IAM handler with
``services.request.operation`` (one module per area)."""

from tessera.services.iam import (  # noqa: F401  (imported for registration)
    access_keys,
    account,
    aliases,
    attachments,
    credential_report,
    groups,
    inline,
    instance_profiles,
    mfa,
    oidc_providers,
    passwords,
    policies,
    roles,
    saml_providers,
    server_certificates,
    service_credentials,
    signing_certificates,
    simulate,
    ssh_keys,
    users,
)
