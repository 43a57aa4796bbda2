"""botocore's models of the services Tessera speaks, loaded once per process.

The bottom layer, beside ``errors``, ``arn`` and ``clock``: the wire layer indexes them
(``tessera.protocol.model.service_spec``) and the audit trail walks their shapes to hide
sensitive members (``tessera.audit.events``), both from the same loaded copy.
"""

from __future__ import annotations

import functools

from botocore.loaders import Loader
from botocore.model import ServiceModel

SERVICE_NAMES = ("iam", "sts", "organizations")


@functools.cache
def service_model(name: str) -> ServiceModel:
    """``name``'s service-2 model, as botocore ships it."""
    if name not in SERVICE_NAMES:
        raise ValueError(f"unknown service {name!r}; expected one of {SERVICE_NAMES}")
    return ServiceModel(Loader().load_service_model(name, "service-2"), service_name=name)
