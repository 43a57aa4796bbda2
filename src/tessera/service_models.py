"""botocore's models of the services Tessera speaks, loaded once per process.

IAM, STS, Organizations and CloudTrail (whose LookupEvents reads the audit trail) are
the models botocore ships; Tessera's own authorization
API (``tessera-authz``) is a model in the same format shipped in this package
(``data/models``, the directory a client names in ``AWS_DATA_PATH``).

The bottom layer, beside ``errors``, ``arn`` and ``clock``: the wire layer indexes them
(``tessera.protocol.model.service_spec``) and the audit trail walks their shapes to hide
sensitive members (``tessera.audit.events``), both from the same loaded copy.

``resolve_operation(service, name)`` gives the one ``Operation`` of that name: the server
resolves a request's operation once and every stage after it (the parser and encoder of
``protocol``, the audit event) reads it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel

SERVICE_NAMES = ("iam", "sts", "organizations", "tessera-authz", "cloudtrail")
MODELS_DIR = Path(__file__).resolve().parent / "data" / "models"
"""Tessera's own service models, laid out as botocore's data path expects."""
SIGNING_NAMES = {"tessera-authz": "tessera"}
"""The credential-scope service of each service whose signing name is not its name."""


@functools.cache
def service_model(name: str) -> ServiceModel:
    """``name``'s service-2 model, as botocore ships it (Tessera's own from ``MODELS_DIR``)."""
    if name not in SERVICE_NAMES:
        raise ValueError(f"unknown service {name!r}; expected one of {SERVICE_NAMES}")
    loader = Loader(extra_search_paths=[str(MODELS_DIR)], include_default_search_paths=name != "tessera-authz")
    return ServiceModel(loader.load_service_model(name, "service-2"), service_name=name)


def signing_name(service: str) -> str:
    """The service a request's credential scope names for ``service``."""
    return SIGNING_NAMES.get(service, service)


@dataclass(frozen=True, eq=False, slots=True)
class Operation:
    """One operation of one service, resolved once per request by the server and read
    by every stage after it (parser, encoder, audit). Compared and hashed by identity:
    there is one per operation (``resolve_operation``), so stages may key their
    per-operation memos on it."""

    service: str  # one of SERVICE_NAMES
    model: OperationModel
    name: str = field(init=False)  # the model's, read once: every stage reads it per request

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", str(self.model.name))


def resolve_operation(service: str, name: str) -> Operation | None:
    """The operation called ``name`` exactly (case-sensitive, as AWS) of ``service``, or None."""
    if name not in _operation_names(service):
        return None
    return _operation(service, name)


@functools.cache
def _operation_names(service: str) -> frozenset[str]:
    return frozenset(service_model(service).operation_names)


@functools.cache
def _operation(service: str, name: str) -> Operation:
    return Operation(service, service_model(service).operation_model(name))
