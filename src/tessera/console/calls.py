"""The console as an API client: the calls its pages make, as the signed-in principal.

A page never reads or writes IAM state itself: it calls the same operations an SDK
would, through ``TesseraApp.call_as``, so every page is authorized by the same policy
engine on the same canonical identities, audited as the same events, and refused with the
same errors. Parameters are serialised by botocore's own serialisers (the wire form a
real client sends) and parsed back by Tessera's parser, so a console form is validated
exactly as an SDK call is.
"""

from __future__ import annotations

import concurrent.futures
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.serialize import Serializer, create_serializer

from tessera.audit.sink import AuditWriter
from tessera.auth.caller import Caller
from tessera.errors import TesseraError
from tessera.service_models import service_model
from tessera.services.runtime import Runtime


class Outcome(Protocol):
    """What one call came to: its result, or its error."""

    error: TesseraError | None
    result: dict[str, Any] | None


class Host(Protocol):
    """What the console needs of the server that mounts it (``TesseraApp``)."""

    runtime: Runtime
    audit: AuditWriter
    executor: concurrent.futures.ThreadPoolExecutor

    def call_as(
        self,
        caller: Caller,
        service: str,
        operation: str,
        params: Mapping[str, Any],
        *,
        source_ip: str,
        user_agent: str,
        secure: bool,
    ) -> Outcome: ...


@functools.cache
def _serializer(protocol: str) -> Serializer:
    return create_serializer(protocol, include_validation=False)


def client_form(service: str, operation: str, params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The Query form an SDK sends for ``operation`` with ``params``."""
    model = service_model(service).operation_model(operation)
    request = _serializer("query").serialize_to_request(dict(params), model)
    body: Mapping[str, Any] = request["body"]
    return [(str(name), str(value)) for name, value in body.items()]


def client_request(service: str, operation: str, params: Mapping[str, Any]) -> tuple[str, bytes]:
    """The ``X-Amz-Target`` and body an SDK sends for an awsJson operation."""
    model = service_model(service).operation_model(operation)
    request = _serializer("json").serialize_to_request(dict(params), model)
    body = request["body"]
    return str(request["headers"]["X-Amz-Target"]), body if isinstance(body, bytes) else str(body).encode()


@dataclass(frozen=True)
class Api:
    """The calls of one page, made as ``caller`` from the browser's address."""

    app: Host
    caller: Caller
    source_ip: str
    user_agent: str
    secure: bool

    def call(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        """``operation``'s result; its ``TesseraError`` (AccessDenied…) raised as it is."""
        ex = self.app.call_as(
            self.caller, service, operation, params, source_ip=self.source_ip, user_agent=self.user_agent, secure=self.secure
        )
        if ex.error is not None:
            raise ex.error
        return ex.result or {}

    def iam(self, operation: str, **params: Any) -> dict[str, Any]:
        return self.call("iam", operation, **params)

    def sts(self, operation: str, **params: Any) -> dict[str, Any]:
        return self.call("sts", operation, **params)

    def org(self, operation: str, **params: Any) -> dict[str, Any]:
        return self.call("organizations", operation, **params)

    def pages(self, service: str, operation: str, key: str, **params: Any) -> list[Any]:
        """Every item of a paginated list (``Marker``/``IsTruncated`` or ``NextToken``)."""
        items: list[Any] = []
        while True:
            result = self.call(service, operation, **params)
            items.extend(result.get(key, []))
            if result.get("IsTruncated") and result.get("Marker"):
                params["Marker"] = result["Marker"]
            elif result.get("NextToken"):
                params["NextToken"] = result["NextToken"]
            else:
                return items
