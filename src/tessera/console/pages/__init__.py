"""The console's pages, one module per area; importing this package registers them all
(``tessera.console.page.route``)."""

from tessera.console.pages import dashboard, groups, signin, users

__all__ = ["dashboard", "signin"]
__all__ += ["groups", "users"]
