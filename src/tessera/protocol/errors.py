"""The protocol edge for errors: one function per protocol, TesseraError → (status, body).

``server/app.py`` renders every error it answers with exactly one of::

    status, body = render_query_error("iam", error, request_id)   # IAM, STS: <ErrorResponse> XML
    status, body = render_json_error(error)                       # Organizations: {"__type": …}

The server adds Content-Type (``text/xml`` / ``json.JSON_CONTENT_TYPE``) and
``x-amzn-RequestId``. A ``TesseraError`` is rendered as its code, status and
message. A store failure (``BackendError``) becomes a 503 ``ServiceUnavailable``
saying what failed (``BackendError.client_message``: never the driver's text, a
connection string or a statement). Anything else becomes a bare 500
``InternalFailure`` carrying AWS's fixed message and no detail at all, so no
exception text or traceback reaches a client (the caller logs it).
"""

from __future__ import annotations

from tessera import errors
from tessera.protocol.json import serialize_json_error
from tessera.protocol.query import serialize_query_error
from tessera.store.base import BackendError

# AWS's documented wording for InternalFailure (Common Errors): fixed, says nothing.
INTERNAL_FAILURE_MESSAGE = "The request processing has failed because of an unknown error, exception or failure."


def render_query_error(service: str, error: BaseException, request_id: str) -> tuple[int, bytes]:
    """(status, ``<ErrorResponse>`` body) for ``error`` on the Query protocol."""
    return serialize_query_error(service, client_visible(error), request_id)


def render_json_error(error: BaseException) -> tuple[int, bytes]:
    """(status, ``{"__type", "Message"}`` body) for ``error`` on awsJson1_1."""
    return serialize_json_error(client_visible(error))


def client_visible(error: BaseException) -> errors.TesseraError:
    """``error`` itself if clients may see it, a 503 ServiceUnavailable for a store
    failure, else a detail-free 500 InternalFailure."""
    if isinstance(error, errors.TesseraError):
        return error
    if isinstance(error, BackendError):
        return errors.ServiceUnavailable(error.client_message())
    return errors.TesseraError(INTERNAL_FAILURE_MESSAGE)
