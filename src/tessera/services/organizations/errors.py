"""The Organizations errors a client can see, with AWS's messages.

Each is a ``tessera.errors.OrganizationsError`` whose code is the botocore shape name
(the awsJson1_1 ``__type``); messages follow the model's documentation for that shape
(its first sentences), which is how the service words them.
"""

from __future__ import annotations

from tessera.errors import AccessDenied, OrganizationsError

MESSAGES = {
    "AWSOrganizationsNotInUseException": "Your account is not a member of an organization.",
    "AlreadyInOrganizationException": "The AWS account is already a member of an organization.",
    "AccountNotFoundException": "You specified an account that doesn't exist.",
    "ChildNotFoundException": "We can't find an organizational unit (OU) or AWS account with the ChildId that you specified.",
    "CreateAccountStatusNotFoundException": "We can't find an create account request with the CreateAccountRequestId that you specified.",
    "DestinationParentNotFoundException": "We can't find the destination container (a root or OU) with the ParentId that you specified.",
    "DuplicateAccountException": "That account is already present in the specified destination.",
    "DuplicateOrganizationalUnitException": "An OU with the same name already exists.",
    "DuplicatePolicyAttachmentException": "The selected policy is already attached to the specified target.",
    "DuplicatePolicyException": "A policy with the same name already exists.",
    "OrganizationNotEmptyException": (
        "The organization isn't empty. To delete an organization, you must first remove all accounts except the management account."
    ),
    "OrganizationalUnitNotEmptyException": (
        "The specified OU is not empty. "
        "Move all accounts to another root or to other OUs, remove all child OUs, and try the operation again."
    ),
    "OrganizationalUnitNotFoundException": "We can't find an OU with the OrganizationalUnitId that you specified.",
    "ParentNotFoundException": "We can't find a root or OU with the ParentId that you specified.",
    "PolicyInUseException": (
        "The policy is attached to one or more entities. "
        "You must detach it from all roots, OUs, and accounts before performing this operation."
    ),
    "PolicyNotAttachedException": "The policy isn't attached to the specified target in the specified root.",
    "PolicyNotFoundException": "We can't find a policy with the PolicyId that you specified.",
    "PolicyTypeAlreadyEnabledException": "The specified policy type is already enabled in the specified root.",
    "PolicyTypeNotAvailableForOrganizationException": (
        "You can't use the specified policy type with the feature set currently enabled for this organization."
    ),
    "PolicyTypeNotEnabledException": "The specified policy type isn't currently enabled in this root.",
    "RootNotFoundException": "We can't find a root with the RootId that you specified.",
    "SourceParentNotFoundException": "We can't find a source root or OU with the ParentId that you specified.",
    "TargetNotFoundException": "We can't find a root, OU, account, or policy with the TargetId that you specified.",
}

CONSTRAINT_MESSAGES = {
    "ACCOUNT_NUMBER_LIMIT_EXCEEDED": "You have reached the limit on the number of accounts in your organization.",
    "OU_NUMBER_LIMIT_EXCEEDED": "You have reached the limit on the number of OUs that you can have in an organization.",
    "OU_DEPTH_LIMIT_EXCEEDED": "You attempted to create an OU tree that is too many levels deep.",
    "POLICY_NUMBER_LIMIT_EXCEEDED": "You have reached the limit on the number of policies that you can have in an organization.",
    "POLICY_CONTENT_LIMIT_EXCEEDED": "You attempted to create a policy larger than the maximum size.",
    "MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED": (
        "You attempted to exceed the number of policies of a certain type that can be attached to an entity at one time."
    ),
    "MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED": (
        "You attempted to detach a policy from an entity that would cause the entity to have fewer than the minimum "
        "number of policies of a certain type required."
    ),
    "MAX_TAG_LIMIT_EXCEEDED": "You have exceeded the number of tags allowed on this resource.",
}

MEMBER_ACCESS_DENIED = "You don't have permissions to access this resource."


def fault(code: str) -> OrganizationsError:
    return OrganizationsError(code, MESSAGES[code])


def not_in_use() -> OrganizationsError:
    return fault("AWSOrganizationsNotInUseException")


def constraint(reason: str) -> OrganizationsError:
    return OrganizationsError("ConstraintViolationException", CONSTRAINT_MESSAGES[reason], reason=reason)


def invalid_input(reason: str, message: str) -> OrganizationsError:
    return OrganizationsError("InvalidInputException", message, reason=reason)


def member_denied() -> AccessDenied:
    """A member account calling an operation only the management account may call."""
    return AccessDenied(MEMBER_ACCESS_DENIED)


def malformed_policy(message: str) -> OrganizationsError:
    return OrganizationsError("MalformedPolicyDocumentException", message)


def concurrent_modification() -> OrganizationsError:
    return OrganizationsError(
        "ConcurrentModificationException",
        "The target of the operation is currently being modified by a different request. Try again later.",
    )
