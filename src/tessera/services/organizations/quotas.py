"""Organizations quotas
(https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html).

AWS's default account quota is 10 and is raised on request; a self-hosted server
behaves as an organization whose quota has been raised, so ``ACCOUNTS`` is larger.
The structural limits are AWS's fixed values.
"""

ACCOUNTS = 1000
OUS = 2000
OU_DEPTH = 5  # OU nesting below the root
POLICIES = 10_000
SCPS_PER_TARGET = 5
SCP_SIZE = 5120  # characters
TAGS_PER_RESOURCE = 50
