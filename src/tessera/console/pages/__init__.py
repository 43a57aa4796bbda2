"""The console's pages, one module per area; importing this package registers them all
(``tessera.console.page.route``)."""

from tessera.console.pages import dashboard, roles, signin, switchrole

__all__ = ["dashboard", "roles", "signin", "switchrole"]
