"""The facts of one request that authorization reads besides the caller (plain values).

Kept apart from ``services.request`` so that ``services.authorization`` can read them without
importing the handler context that calls it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(slots=True)  # per request: frozen slots would cost a setattr call per field
class RequestInfo:
    request_id: str
    received_at: dt.datetime
    source_ip: str
    user_agent: str
    region: str
    secure_transport: bool = False
