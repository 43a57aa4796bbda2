"""Every operation Tessera serves, registered by importing its service package.

``lookup(service, name)`` (from ``services.request``) answers the dispatcher; this
module only makes sure each package has been imported once.
"""

from __future__ import annotations

import tessera.services.authz
import tessera.services.cloudtrail
import tessera.services.iam
import tessera.services.organizations
import tessera.services.sts  # noqa: F401  (registers the STS handlers)
from tessera.services.request import OperationSpec, lookup, registered

__all__ = ["OperationSpec", "lookup", "registered"]
