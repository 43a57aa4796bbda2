"""Unique ids of IAM entities: a four-letter type prefix plus 17 characters.

AWS's ids (``AIDAJQABLZS4A3QDU576Q``) use the RFC 4648 base32 alphabet — upper-case
letters and the digits 2–7 — after the prefix that names the entity type
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids):

========  ==========================
``AIDA``  IAM user
``AGPA``  group
``AROA``  role
``ANPA``  managed policy
``AIPA``  instance profile
``APKA``  SSH public key
``ACCA``  service-specific credential
``ASCA``  server certificate
========  ==========================

The ids must never repeat (a re-created entity gets a new id, and trust policies stored
by id rely on that), so they are drawn from the OS's CSPRNG: 85 random bits each.
"""

from __future__ import annotations

import secrets

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
RANDOM_LENGTH = 17

USER_PREFIX = "AIDA"
GROUP_PREFIX = "AGPA"
ROLE_PREFIX = "AROA"
POLICY_PREFIX = "ANPA"
INSTANCE_PROFILE_PREFIX = "AIPA"
SSH_PUBLIC_KEY_PREFIX = "APKA"
SERVICE_CREDENTIAL_PREFIX = "ACCA"
SERVER_CERTIFICATE_PREFIX = "ASCA"
SIGNING_CERTIFICATE_ID_LENGTH = 32


def new_unique_id(prefix: str) -> str:
    """``prefix`` followed by 17 random characters of AWS's id alphabet."""
    if len(prefix) != 4 or not prefix.isalpha() or not prefix.isupper():
        raise ValueError(f"unique-id prefix must be four upper-case letters, not '{prefix}'")
    return prefix + "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))


def new_certificate_id() -> str:
    """A signing certificate's id: 32 characters of the same alphabet, no prefix (AWS's
    certificate ids are upper-case letters and digits, at least 24 of them:
    ``certificateIdType`` in the IAM model)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(SIGNING_CERTIFICATE_ID_LENGTH))
