"""AWS-style error responses, in the wire format of the resource server's own protocol.

- ``json`` (awsJson1_0/1_1): ``{"__type": "AccessDeniedException", "message": …}``;
- ``rest-json``: the same body and the code in ``x-amzn-ErrorType``;
- ``rest-xml`` (S3's dialect): ``<Error><Code>AccessDenied</Code><Message>…``;
- ``query``: ``<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>…``.

JSON protocols name errors by their awsJson spelling (``AccessDeniedException``), XML
protocols by their REST/Query spelling (``AccessDenied``), as AuthorizeRequest's
``Error`` gives both.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

PROTOCOLS = ("json", "rest-json", "rest-xml", "query")


@dataclass(frozen=True)
class ErrorReply:
    """An error to send: status, both spellings of its code, message, extra members."""

    status: int
    code: str
    json_code: str
    message: str
    encoded_message: str | None = None

    @classmethod
    def from_answer(cls, error: Mapping[str, Any]) -> ErrorReply:
        """The ``Error`` member of an AuthorizeRequest answer."""
        return cls(
            status=int(error["HttpStatus"]),
            code=str(error["Code"]),
            json_code=str(error.get("JsonCode") or error["Code"]),
            message=str(error.get("Message", "")),
            encoded_message=error.get("EncodedAuthorizationMessage"),
        )


UNAVAILABLE = ErrorReply(503, "ServiceUnavailable", "ServiceUnavailableException", "The service cannot authorize requests right now.")
INTERNAL = ErrorReply(500, "InternalFailure", "InternalFailure", "The request processing has failed because of an unknown error.")
UNKNOWN_OPERATION = ErrorReply(404, "UnknownOperation", "UnknownOperationException", "The requested operation is not recognized.")
TOO_LARGE = ErrorReply(413, "RequestEntityTooLarge", "RequestEntityTooLargeException", "The request body is too large.")


def render(reply: ErrorReply, protocol: str, request_id: str | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body of ``reply`` in ``protocol``."""
    request_id = request_id or str(uuid.uuid4())
    headers = [("x-amzn-RequestId", request_id)]
    if protocol in ("json", "rest-json"):
        document: dict[str, str] = {"__type": reply.json_code, "message": reply.message}
        if reply.encoded_message:
            document["encodedAuthorizationMessage"] = reply.encoded_message
        if protocol == "json":
            headers.append(("Content-Type", "application/x-amz-json-1.1"))
        else:
            headers += [("Content-Type", "application/json"), ("x-amzn-ErrorType", reply.json_code)]
        return reply.status, headers, json.dumps(document).encode()
    if protocol == "rest-xml":
        extra = (
            f"<EncodedAuthorizationMessage>{escape(reply.encoded_message)}</EncodedAuthorizationMessage>" if reply.encoded_message else ""
        )
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(reply.code)}</Code>'
            f"<Message>{escape(reply.message)}</Message>{extra}<RequestId>{escape(request_id)}</RequestId></Error>"
        )
    elif protocol == "query":
        fault = "Receiver" if reply.status >= 500 else "Sender"
        body = (
            f"<ErrorResponse><Error><Type>{fault}</Type>"
            f"<Code>{escape(reply.code)}</Code><Message>{escape(reply.message)}</Message></Error>"
            f"<RequestId>{escape(request_id)}</RequestId></ErrorResponse>"
        )
    else:
        raise ValueError(f"unknown protocol {protocol!r}; one of {PROTOCOLS}")
    headers.append(("Content-Type", "text/xml"))
    return reply.status, headers, body.encode()
