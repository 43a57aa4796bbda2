"""The console's pages, one module per area; importing this package registers them all
(``tessera.console.page.route``)."""

from tessera.console.pages import dashboard, signin, switchrole

__all__ = ["dashboard", "signin", "switchrole"]
from tessera.console.pages import audit, simulator  # noqa: F401  (the audit trail and the policy simulator)
