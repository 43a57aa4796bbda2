"""IAM operations. Importing this package registers every IAM handler with
``services.context.operation`` (one module per area)."""

from tessera.services.iam import (  # noqa: F401  (imported for registration)
    access_keys,
    account,
    attachments,
    groups,
    inline,
    instance_profiles,
    mfa,
    policies,
    roles,
    simulate,
    users,
)
