"""The console's pages, one module per area; importing this package registers them all
(``tessera.console.page.route``)."""

from tessera.console.pages import dashboard, groups, organizations, policies, roles, signin, switchrole, users

__all__ = ["dashboard", "groups", "organizations", "policies", "roles", "signin", "switchrole", "users"]
