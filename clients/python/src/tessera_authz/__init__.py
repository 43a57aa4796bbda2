"""Tessera's authorization API for resource servers: ASGI and WSGI middleware that verify
and decide each SigV4-signed request with ``AuthorizeRequest``."""

from tessera_authz.asgi import AuthzMiddleware
from tessera_authz.authorizer import MODELS, Authorizer, Outcome, Received, make_client
from tessera_authz.errors import ErrorReply, render
from tessera_authz.routes import Resource, Route, RouteTable
from tessera_authz.wsgi import AuthzWSGIMiddleware

__all__ = [
    "MODELS",
    "Authorizer",
    "AuthzMiddleware",
    "AuthzWSGIMiddleware",
    "ErrorReply",
    "Outcome",
    "Received",
    "Resource",
    "Route",
    "RouteTable",
    "make_client",
    "render",
]
