"""The console's pages, one module per area; importing this package registers them all
(``tessera.console.page.route``)."""

from tessera.console.pages import audit, dashboard, groups, organizations, policies, roles, signin, simulator, switchrole, users

__all__ = ["audit", "dashboard", "groups", "organizations", "policies", "roles", "signin", "simulator", "switchrole", "users"]
