"""AWS Organizations (API 2016-11-28): the operations Tessera implements.

Importing this package registers its handlers (``@operation("organizations", …)``).

====================  ===================================================================
module                operations
====================  ===================================================================
``organization``      CreateOrganization, DescribeOrganization, DeleteOrganization,
                      ListRoots, EnablePolicyType, DisablePolicyType
``members``           CreateAccount, DescribeCreateAccountStatus, ListCreateAccountStatus,
                      ListAccounts, DescribeAccount, ListAccountsForParent, MoveAccount
``units``             Create/Describe/Update/DeleteOrganizationalUnit,
                      ListOrganizationalUnitsForParent, ListChildren, ListParents
``policies``          Create/Update/Delete/DescribePolicy, ListPolicies, Attach/DetachPolicy,
                      ListPoliciesForTarget, ListTargetsForPolicy
``tags``              TagResource, UntagResource, ListTagsForResource
====================  ===================================================================

The supporting modules are pure where they can be: ``ids`` (identifiers and ARNs),
``model`` (the tree, paths and SCP levels), ``paging``, ``shapes`` (output structures);
``records`` and ``provision`` hold the writes, ``access`` the management-account rule.
"""

from tessera.services.organizations import members, organization, policies, tags, units

__all__ = ["members", "organization", "policies", "tags", "units"]
