"""The one error hierarchy a client can see; rendered at the protocol edge only.

TesseraError                                   (Receiver, 500 InternalFailure)
  SenderError                                  (Sender, 400)
    ValidationError                            ValidationError            400
    InvalidInputException                      InvalidInput               400
    InvalidParameterValue                      InvalidParameterValue      400
    MalformedPolicyDocumentException           MalformedPolicyDocument    400
    PackedPolicyTooLargeException              PackedPolicyTooLarge       400
    InvalidIdentityTokenException              InvalidIdentityToken       400
    ExpiredTokenException                      ExpiredTokenException      400 (an expired SAML assertion or web identity token)
    IDPRejectedClaimException                  IDPRejectedClaim           403
    IDPCommunicationErrorException             IDPCommunicationError      400
    NoSuchEntityException                      NoSuchEntity               404
    EntityAlreadyExistsException               EntityAlreadyExists        409
    LimitExceededException                     LimitExceeded              409
    DeleteConflictException                    DeleteConflict             409
    ConcurrentModificationException            ConcurrentModification     409
    InvalidAuthenticationCodeException         InvalidAuthenticationCode  403
    PasswordPolicyViolationException           PasswordPolicyViolation    400
    EntityTemporarilyUnmodifiableException     EntityTemporarilyUnmodifiable 409
    InvalidUserTypeException                   InvalidUserType            400
    CredentialReportNotPresentException        ReportNotPresent           410
    CredentialReportExpiredException           ReportExpired              410
    CredentialReportNotReadyException          ReportInProgress           404
    PolicyNotAttachableException               PolicyNotAttachable        400
    UnmodifiableEntityException                UnmodifiableEntity         400
    InvalidAuthorizationMessageException       InvalidAuthorizationMessageException 400
    MalformedCertificateException              MalformedCertificate       400
    InvalidCertificateException                InvalidCertificate         400
    DuplicateCertificateException              DuplicateCertificate       409
    InvalidPublicKeyException                  InvalidPublicKey           400
    UnrecognizedPublicKeyEncodingException     UnrecognizedPublicKeyEncoding 400
    DuplicateSSHPublicKeyException             DuplicateSSHPublicKey      400
    ServiceNotSupportedException               NotSupportedService        404
    KeyPairMismatchException                   KeyPairMismatch            400
    InvalidAction / MissingAction              InvalidAction / MissingAction 400
    Throttling                                 Throttling (ThrottlingException) 400
    MalformedRequest                           MalformedQueryString etc.  400
    AuthError                                  (authentication and authorization)
      MissingAuthenticationToken               403
      IncompleteSignature                      400
      InvalidClientTokenId                     403
      SignatureDoesNotMatch                    403
      ExpiredToken                             403
      AccessDenied                             403  (``decision``: the policy ``Denial``, if any)
  ServiceFailureException                      ServiceFailure             500
  ServiceUnavailable                           ServiceUnavailable         503 (the store failed; JSON: ServiceException)
  InternalFailure                              InternalFailure            500 (anything unexpected)

Organizations (awsJson1_1) errors use ``OrganizationsError`` whose ``code`` is the
botocore shape name (``__type``), HTTP 400, and the auth errors carry a separate
``json_code`` for that protocol
(https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html).

Values (code, status, sender fault) are taken from botocore's service models and
pinned by tests/unit/test_errors.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


class TesseraError(Exception):
    code: str = "InternalFailure"
    status: int = 500
    sender_fault: bool = False
    json_code: str | None = None  # awsJson1_1 ``__type`` when it differs from ``code``

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class SenderError(TesseraError):
    status = 400
    sender_fault = True


class ValidationError(SenderError):
    code = "ValidationError"
    json_code = "InvalidInputException"


class InvalidInputException(SenderError):
    code = "InvalidInput"
    json_code = "InvalidInputException"


class InvalidParameterValue(SenderError):
    code = "InvalidParameterValue"
    json_code = "InvalidInputException"


class InvalidParameterCombination(SenderError):
    code = "InvalidParameterCombination"


class MalformedPolicyDocumentException(SenderError):
    code = "MalformedPolicyDocument"
    json_code = "MalformedPolicyDocumentException"


class PackedPolicyTooLargeException(SenderError):
    code = "PackedPolicyTooLarge"


class InvalidIdentityTokenException(SenderError):
    """A web identity token or SAML assertion that does not verify."""

    code = "InvalidIdentityToken"


class ExpiredTokenException(SenderError):
    """An expired identity token or SAML assertion (not the signed request's ``ExpiredToken``)."""

    code = "ExpiredTokenException"


class IDPRejectedClaimException(SenderError):
    code = "IDPRejectedClaim"
    status = 403


class IDPCommunicationErrorException(SenderError):
    """The identity provider's keys could not be fetched (or not trusted)."""

    code = "IDPCommunicationError"


class NoSuchEntityException(SenderError):
    code = "NoSuchEntity"
    status = 404


class EntityAlreadyExistsException(SenderError):
    code = "EntityAlreadyExists"
    status = 409


class LimitExceededException(SenderError):
    code = "LimitExceeded"
    status = 409


class DeleteConflictException(SenderError):
    code = "DeleteConflict"
    status = 409


class ConcurrentModificationException(SenderError):
    code = "ConcurrentModification"
    status = 409


class InvalidAuthenticationCodeException(SenderError):
    code = "InvalidAuthenticationCode"
    status = 403


class PasswordPolicyViolationException(SenderError):
    code = "PasswordPolicyViolation"


class EntityTemporarilyUnmodifiableException(SenderError):
    code = "EntityTemporarilyUnmodifiable"
    status = 409


class InvalidUserTypeException(SenderError):
    code = "InvalidUserType"


class CredentialReportNotPresentException(SenderError):
    code = "ReportNotPresent"
    status = 410


class CredentialReportExpiredException(SenderError):
    code = "ReportExpired"
    status = 410


class CredentialReportNotReadyException(SenderError):
    code = "ReportInProgress"
    status = 404


class PolicyNotAttachableException(SenderError):
    code = "PolicyNotAttachable"


class UnmodifiableEntityException(SenderError):
    code = "UnmodifiableEntity"


class InvalidAuthorizationMessageException(SenderError):
    code = "InvalidAuthorizationMessageException"


class MalformedCertificateException(SenderError):
    code = "MalformedCertificate"


class InvalidCertificateException(SenderError):
    code = "InvalidCertificate"


class DuplicateCertificateException(SenderError):
    code = "DuplicateCertificate"
    status = 409


class InvalidPublicKeyException(SenderError):
    code = "InvalidPublicKey"


class UnrecognizedPublicKeyEncodingException(SenderError):
    code = "UnrecognizedPublicKeyEncoding"


class DuplicateSSHPublicKeyException(SenderError):
    code = "DuplicateSSHPublicKey"


class ServiceNotSupportedException(SenderError):
    code = "NotSupportedService"
    status = 404


class KeyPairMismatchException(SenderError):
    code = "KeyPairMismatch"


class RegionDisabledException(SenderError):
    code = "RegionDisabledException"
    status = 403


class InvalidAction(SenderError):
    code = "InvalidAction"
    json_code = "UnknownOperationException"


class MissingAction(SenderError):
    code = "MissingAction"


class MalformedRequest(SenderError):
    """A request the protocol layer cannot read at all (bad body, bad headers)."""

    code = "MalformedQueryString"
    json_code = "SerializationException"


class RequestEntityTooLarge(SenderError):
    code = "RequestEntityTooLarge"
    status = 413


class Throttling(SenderError):
    """Too many attempts: AWS's throttling answer to Query and JSON clients alike
    (https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html)."""

    code = "Throttling"
    json_code = "ThrottlingException"

    def __init__(self, message: str = "Rate exceeded") -> None:
        super().__init__(message)


class AuthError(SenderError):
    """Authentication and authorization failures."""


class MissingAuthenticationToken(AuthError):
    code = "MissingAuthenticationToken"
    json_code = "MissingAuthenticationTokenException"
    status = 403

    def __init__(self, message: str = "Request is missing Authentication Token") -> None:
        super().__init__(message)


class IncompleteSignature(AuthError):
    code = "IncompleteSignature"
    json_code = "IncompleteSignatureException"


class InvalidClientTokenId(AuthError):
    code = "InvalidClientTokenId"
    json_code = "UnrecognizedClientException"
    status = 403

    def __init__(self, message: str = "The security token included in the request is invalid.") -> None:
        super().__init__(message)


SIGNATURE_MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)


class SignatureDoesNotMatch(AuthError):
    code = "SignatureDoesNotMatch"
    json_code = "InvalidSignatureException"
    status = 403

    def __init__(self, message: str = SIGNATURE_MISMATCH_MESSAGE) -> None:
        super().__init__(message)


class ExpiredToken(AuthError):
    code = "ExpiredToken"
    json_code = "ExpiredTokenException"
    status = 403

    def __init__(self, message: str = "The security token included in the request is expired") -> None:
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class DeniedPrincipal:
    """Who was refused, as the encoded authorization message names them."""

    id: str
    name: str
    arn: str
    account: str


@dataclass(frozen=True, slots=True)
class DecidingStatement:
    """A statement that decided a refusal (a matching Deny of an explicit deny)."""

    policy_id: str
    sid: str
    statement_index: int
    effect: str  # as written in the policy: "Allow" or "Deny"
    owner: bool  # in a policy of the resource's owner (resource-based or trust policy)


@dataclass(frozen=True, slots=True)
class Denial:
    """A refusal decided by the policy engine: what DecodeAuthorizationMessage explains
    (https://docs.aws.amazon.com/STS/latest/APIReference/API_DecodeAuthorizationMessage.html).
    ``context`` is the request's condition keys; ``same_account`` whether the resource
    is the caller's account's (the owner's facts are hidden from the caller otherwise)."""

    action: str
    resource: str
    principal: DeniedPrincipal
    explicit_deny: bool
    reason: str  # the text after "because"/"with" in AWS's messages; "" if none
    statements: tuple[DecidingStatement, ...]
    context: Mapping[str, object]
    same_account: bool


class AccessDenied(AuthError):
    """Refused. ``decision`` is set when a policy evaluation decided the refusal; a
    refusal that no policy can change (the kind of credentials, a wrong MFA code) has
    none, and gets no encoded authorization message."""

    code = "AccessDenied"
    json_code = "AccessDeniedException"
    status = 403

    def __init__(self, message: str = "", decision: Denial | None = None) -> None:
        super().__init__(message)
        self.decision = decision


class ServiceFailureException(TesseraError):
    code = "ServiceFailure"
    status = 500


class ServiceUnavailable(TesseraError):
    """The identity store failed (unreachable, connection lost, …): AWS's common
    ``ServiceUnavailable`` (HTTP 503, "the request has failed due to a temporary
    failure of the server", https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html).
    The message says what failed and never quotes a connection string or a statement.
    Organizations' model spells it ``ServiceException``."""

    code = "ServiceUnavailable"
    json_code = "ServiceException"
    status = 503


class InternalFailure(TesseraError):
    """Anything that went wrong in Tessera rather than in the request: answered as a
    bare 500 with no detail (the cause is logged, never sent)."""

    code = "InternalFailure"
    status = 500


class OrganizationsError(SenderError):
    """An Organizations error; ``code`` is the botocore shape name (wire ``__type``)."""

    def __init__(self, code: str, message: str, status: int = 400, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.json_code = code
        self.status = status
        self.reason = reason  # the modeled ``Reason`` member (ConstraintViolation, InvalidInput)


class CloudTrailError(SenderError):
    """A CloudTrail error (awsJson1_1); ``code`` is the botocore shape name (wire ``__type``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.json_code = code
