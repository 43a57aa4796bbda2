"""Structured logs: ``text`` for people, ``json`` (one object per line) for collectors.

Every record made while serving a request carries the ``request_id`` the client sees in
``x-amzn-RequestId``. Secrets are never passed to a logger in the first place.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys

EXTRA_FIELDS = ("request_id", "service", "operation", "status", "principal", "source_ip", "duration_ms", "error_code")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in EXTRA_FIELDS:
            value = getattr(record, name, None)
            if value not in (None, ""):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = getattr(record, "request_id", None)
        if rid:
            parts = [f"request_id={rid}"]
            for name in EXTRA_FIELDS[1:]:
                value = getattr(record, name, None)
                if value not in (None, ""):
                    parts.append(f"{name}={value}")
            line = f"{line} {' '.join(parts)}"
        return line


def configure(log_format: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
