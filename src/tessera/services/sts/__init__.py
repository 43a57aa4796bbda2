"""STS: AssumeRole, AssumeRoleWithWebIdentity, AssumeRoleWithSAML, GetCallerIdentity, GetSessionToken,
GetFederationToken, GetAccessKeyInfo and DecodeAuthorizationMessage
(https://docs.aws.amazon.com/STS/latest/APIReference/welcome.html).

Importing this package registers every handler. Sessions are stateless: each call
seals its ``SessionClaims`` into the session token (``tessera.auth.tokens``) with the
keyring of ``tessera.services.keys``; request authentication turns a token back into
a caller with ``session_caller``.
"""

from tessera.services.sts.assume_role import assume_role
from tessera.services.sts.authorization_message import (
    HEADER as AUTHORIZATION_MESSAGE_HEADER,
)
from tessera.services.sts.authorization_message import (
    authorization_message_headers,
    decode_authorization_message,
    encode_authorization_message,
)
from tessera.services.sts.federation import get_federation_token, get_session_token
from tessera.services.sts.identity import get_access_key_info, get_caller_identity, session_caller
from tessera.services.sts.saml import ANONYMOUS, assume_role_with_saml
from tessera.services.sts.web_identity import assume_role_with_web_identity, session_name_for

__all__ = [
    "ANONYMOUS",
    "AUTHORIZATION_MESSAGE_HEADER",
    "assume_role",
    "assume_role_with_saml",
    "assume_role_with_web_identity",
    "authorization_message_headers",
    "decode_authorization_message",
    "encode_authorization_message",
    "get_access_key_info",
    "get_caller_identity",
    "get_federation_token",
    "get_session_token",
    "session_caller",
    "session_name_for",
]
