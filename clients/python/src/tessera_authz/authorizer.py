"""Asking Tessera: one AuthorizeRequest per request received, over one pooled botocore client.

The resource server's own credentials come from botocore's standard chain (environment,
shared config and profiles, container and instance metadata, web identity) unless given.
Failing closed: when Tessera cannot be reached, or refuses the call itself, the request
is denied (503 or 500), never allowed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.config
import botocore.exceptions
import botocore.loaders
import botocore.session

from tessera_authz.errors import INTERNAL, UNAVAILABLE, UNKNOWN_OPERATION, ErrorReply
from tessera_authz.routes import Match, RouteTable

MODELS = Path(__file__).resolve().parent / "data" / "models"
log = logging.getLogger("tessera_authz")


@dataclass(frozen=True)
class Received:
    """A request as the resource server received it."""

    method: str
    raw_path: str  # still percent-encoded
    query_string: str  # without '?'
    headers: Sequence[tuple[str, str]]  # as received, Host included
    body: bytes
    source_ip: str | None
    secure: bool


@dataclass(frozen=True)
class Outcome:
    """Allowed (``error`` None) with the principal, or the error to answer with."""

    match: Match | None
    principal: Mapping[str, Any] | None = None
    error: ErrorReply | None = None
    resource: str | None = None
    answer: Mapping[str, Any] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        return self.error is None


def make_client(
    endpoint_url: str,
    region: str,
    *,
    session: botocore.session.Session | None = None,
    connect_timeout: float = 2.0,
    read_timeout: float = 5.0,
    max_pool_connections: int = 32,
    verify: bool | str | None = None,
) -> Any:
    """A botocore client of the shipped ``tessera-authz`` model, signed with the standard chain's credentials."""
    session = session or botocore.session.Session()
    loader = botocore.loaders.create_loader(str(MODELS))
    session.register_component("data_loader", loader)
    config = botocore.config.Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"max_attempts": 2, "mode": "standard"},
        max_pool_connections=max_pool_connections,
        tcp_keepalive=True,
    )
    return session.create_client("tessera-authz", endpoint_url=endpoint_url, region_name=region, config=config, verify=verify)


class Authorizer:
    """Decides requests for one service (``service``, the credential scope's service name)."""

    def __init__(
        self,
        routes: RouteTable,
        *,
        service: str,
        region: str,
        account: str,
        client: Any,
        partition: str = "aws",
        unsigned_payload: bool = False,
        path_as_sent: bool = False,
    ) -> None:
        self.routes = routes
        self.service = service
        self.region = region
        self.account = account
        self.partition = partition
        self.client = client
        self.unsigned_payload = unsigned_payload
        self.path_as_sent = path_as_sent

    def decide(self, received: Received) -> Outcome:
        match = self.routes.match(received.method, received.raw_path)
        if match is None:
            return Outcome(None, error=UNKNOWN_OPERATION)
        if match.route.public:
            return Outcome(match)
        try:
            params = self.parameters(received, match)
            answer: dict[str, Any] = self.client.authorize_request(**params)
        except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as e:
            log.error("Tessera unreachable, request denied: %s", e)
            return Outcome(match, error=UNAVAILABLE)
        except botocore.exceptions.ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            log.error("AuthorizeRequest refused (%s), request denied: %s", code, e)
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)
            return Outcome(match, error=UNAVAILABLE if code == "ThrottlingException" or status >= 500 else INTERNAL)
        except botocore.exceptions.BotoCoreError as e:  # no credentials, bad parameters…
            log.error("AuthorizeRequest failed, request denied: %s", e)
            return Outcome(match, error=INTERNAL)
        answer.pop("ResponseMetadata", None)
        if answer.get("Decision") == "Allow":
            return Outcome(match, principal=answer.get("Principal"), resource=params["Resource"], answer=answer)
        error = answer.get("Error")
        reply = ErrorReply.from_answer(error) if error else ErrorReply(403, "AccessDenied", "AccessDeniedException", "Access denied")
        return Outcome(match, principal=answer.get("Principal"), error=reply, resource=params["Resource"], answer=answer)

    def parameters(self, received: Received, match: Match) -> dict[str, Any]:
        """The AuthorizeRequest input for a matched request."""
        route = match.route
        resource = route.lookup(match) if route.lookup else None
        account = (resource.account if resource else None) or self.account
        arn = route.resource_arn(match.params, partition=self.partition, region=self.region, account=account)
        request: dict[str, Any] = {
            "Method": received.method,
            "Path": received.raw_path,
            "QueryString": received.query_string,
            "Headers": [{"Name": k, "Value": v} for k, v in received.headers],
            "BodySha256": hashlib.sha256(received.body).hexdigest(),
            "SecureTransport": received.secure,
        }
        if received.source_ip:
            request["SourceIp"] = received.source_ip
        if self.unsigned_payload:
            request["UnsignedPayload"] = True
        if self.path_as_sent:
            request["PathAsSent"] = True
        params: dict[str, Any] = {
            "Service": self.service,
            "Region": self.region,
            "Request": request,
            "Action": route.action,
            "Resource": arn,
            "ResourceAccount": account,
        }
        if resource and resource.policy:
            params["ResourcePolicy"] = resource.policy
        if resource and resource.tags:
            params["ResourceTags"] = [{"Key": k, "Value": v} for k, v in resource.tags.items()]
        if route.context:
            entries = route.context(match, {"headers": received.headers, "body": received.body, "query": received.query_string})
            params["ContextEntries"] = [
                {"ContextKeyName": name, "ContextKeyType": kind, "ContextKeyValues": list(values)}
                for name, (kind, values) in entries.items()
            ]
        return params
