"""The floor: the least work any correct server must do per request, on Tessera's stack.

The ceiling says what uvicorn costs with no work behind it. The floor adds only what no
shortcut may skip (the issue's own rule: every signature verified, every AssumeRole
evaluated against its own request context) and nothing a product needs besides:

* every request: the SigV4 query signature checked (canonical request, SHA-256, HMAC
  under a cached signing key, constant-time compare) and the URL's validity window;
* AssumeRole: the role's trust policy and the caller's identity policy (the bench's
  own, ``bench.load.trust_policy``/``identity_policy``) evaluated by ``tessera.policy``
  with the request's context, then a session sealed by ``tessera.auth.tokens``
  (AES-256-GCM) with fresh ASIA key id and secret;
* AssumeRole, given a ``Journal``: the session's record (who asked, for which role and
  session, the new key id, when, from where) appended to a SQLite table in WAL mode with
  ``synchronous=FULL`` and answered only once its commit is done, one fsync'd commit
  per group of records queued meanwhile: a server that issues credentials and keeps an
  audit trail must not hand out a session its trail could lose (docs/performance.md);
* the answer: the operation's XML with a fresh request id.

No account state, no parameter validation beyond what the signature covers, no audit
events beyond that one record (none for GetCallerIdentity), no metrics, logging or
error shapes: one key pair (``FLOOR_ACCESS_KEY_ID``, ``FLOOR_SECRET_ACCESS_KEY``) and
one role. A request that fails a check gets a bare 403. What the floor reaches bounds
what Tessera (which does all of that besides) can reach on this stack; the bench
reports it beside the targets.

Served as the ceiling is: ``uvicorn bench.floor:app --loop uvloop --http httptools``,
its journal in ``FLOOR_JOURNAL`` (a SQLite file; a temporary one when unset).
Query strings must be in canonical form, as every AWS SDK sends them (others get 403).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import datetime as dt
import hmac
import ipaddress
import json
import os
import sqlite3
import tempfile
import threading
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote

from bench import load
from tessera.auth import sigv4, tokens
from tessera.auth.caller import SessionClaims
from tessera.policy import PolicySet, PolicyType, Principal, Request, evaluate, parse_policy

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

KEY_ID_VARIABLE = "FLOOR_ACCESS_KEY_ID"
SECRET_VARIABLE = "FLOOR_SECRET_ACCESS_KEY"
JOURNAL_VARIABLE = "FLOOR_JOURNAL"
ROLE_ID = "AROAFLOORBENCHROLE001"
SESSION_SECONDS = 3600
CLOCK_SKEW = dt.timedelta(minutes=15)

_GCI = (
    '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>'
    "<UserId>{user_id}</UserId><Account>{account}</Account><Arn>{arn}</Arn></GetCallerIdentityResult>"
    "<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
)
_ASSUME_ROLE = (
    '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>'
    "<AccessKeyId>{key_id}</AccessKeyId><SecretAccessKey>{secret}</SecretAccessKey>"
    "<SessionToken>{token}</SessionToken><Expiration>{expiration}</Expiration></Credentials>"
    "<AssumedRoleUser><AssumedRoleId>{role_id}:{session}</AssumedRoleId><Arn>{session_arn}</Arn></AssumedRoleUser>"
    "</AssumeRoleResult><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></AssumeRoleResponse>"
)
_FORBIDDEN = b"<ErrorResponse><Error><Code>AccessDenied</Code></Error></ErrorResponse>"


class Journal:
    """The least durable record a credential-issuing server can keep: one table with no
    index but its row id, in WAL mode with ``synchronous=FULL``, written by one thread
    in group commits (every record queued while a commit runs goes into the next one).
    ``append`` returns a future that completes when the record's commit has."""

    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS issued (seq INTEGER PRIMARY KEY, record TEXT NOT NULL)")
        self._queue: collections.deque[tuple[str, concurrent.futures.Future[None]]] = collections.deque()
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="floor-journal", daemon=True)
        self._thread.start()

    def append(self, record: str) -> concurrent.futures.Future[None]:
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._queue.append((record, done))
        self._wake.set()
        return done

    def records(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT record FROM issued ORDER BY seq")]

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._thread.join()
        self._db.close()

    def _run(self) -> None:
        while not (self._closed and not self._queue):
            self._wake.wait()
            self._wake.clear()
            batch = []
            while self._queue:
                batch.append(self._queue.popleft())
            if not batch:
                continue
            try:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT INTO issued (record) VALUES (?)", [(record,) for record, _ in batch])
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                for _, done in batch:
                    done.set_exception(error)
                continue
            for _, done in batch:
                done.set_result(None)


class Floor:
    """One key pair, the bench's two policies and a token key, fixed at start; with a
    ``journal``, AssumeRole answers once the session's record is committed to it."""

    def __init__(
        self,
        access_key_id: str,
        secret_access_key: str,
        *,
        now: Callable[[], dt.datetime] | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.access_key_id = access_key_id
        self.secret = secret_access_key
        self.journal = journal
        self.now = now or (lambda: dt.datetime.now(dt.UTC))
        self.caller = Principal("user", load.user_arn(), load.ACCOUNT, user_id="AIDAFLOORBENCHUSER001")
        self.trust = PolicySet(resource=parse_policy(load.trust_policy(), PolicyType.TRUST))
        self.identity = PolicySet(identity=[parse_policy(load.identity_policy(), PolicyType.IDENTITY)])
        self.token_key = tokens.new_token_key("floor", self.now())
        self._signing: dict[tuple[str, str, str], sigv4.Signer] = {}

    # -- the checks ----------------------------------------------------------------------
    def verified(self, method: str, path: str, raw_query: str, host: str) -> dict[str, str] | None:
        """The query's parameters if its SigV4 signature and window hold, else None."""
        pairs = sorted(item.partition("=")[::2] for item in raw_query.split("&"))
        params = dict(pairs)
        provided = params.get("X-Amz-Signature")
        if provided is None or params.get("X-Amz-SignedHeaders") != "host" or params.get("X-Amz-Algorithm") != sigv4.ALGORITHM:
            return None
        scope = unquote(params.get("X-Amz-Credential", "")).split("/")
        if len(scope) != 5:
            return None
        key_id, date, region, service, terminator = scope
        timestamp = params.get("X-Amz-Date", "")
        if key_id != self.access_key_id or terminator != "aws4_request" or timestamp[:8] != date:
            return None
        try:
            signed_at = sigv4.parse_timestamp(timestamp)
            expires = int(params.get("X-Amz-Expires", "900"))
        except (sigv4.SignatureFormatError, ValueError):
            return None
        now = self.now()
        if not signed_at - CLOCK_SKEW <= now <= signed_at + dt.timedelta(seconds=expires):
            return None
        query = "&".join(f"{name}={value}" for name, value in pairs if name != "X-Amz-Signature")
        canonical = f"{method}\n{path}\n{query}\nhost:{host}\n\nhost\n{sigv4.EMPTY_PAYLOAD_SHA256}"
        to_sign = sigv4.string_to_sign(timestamp, f"{date}/{region}/{service}/aws4_request", canonical)
        expected = self._signer(date, region, service).signature(to_sign)
        if not hmac.compare_digest(expected.encode(), provided.encode("utf-8", "surrogateescape")):
            return None
        return params

    def _signer(self, date: str, region: str, service: str) -> sigv4.Signer:
        """The signing key for a scope, derived once (as Tessera caches it)."""
        signer = self._signing.get((date, region, service))
        if signer is None:
            signer = sigv4.Signer(sigv4.signing_key(self.secret, date, region, service))
            self._signing[(date, region, service)] = signer
        return signer

    # -- the operations ------------------------------------------------------------------
    def answer(self, params: dict[str, str], source_ip: str) -> tuple[bytes, str | None] | None:
        """The answer, and the record to commit to the journal before it is sent (None: nothing to record)."""
        action = params.get("Action")
        if action == load.CALLER_IDENTITY:
            body = _GCI.format(user_id=self.caller.user_id, account=self.caller.account, arn=self.caller.arn, request_id=uuid.uuid4())
            return body.encode(), None
        if action == load.ASSUME_ROLE:
            return self.assume_role(unquote(params.get("RoleArn", "")), unquote(params.get("RoleSessionName", "")), source_ip)
        return None

    def assume_role(self, role_arn: str, session_name: str, source_ip: str) -> tuple[bytes, str] | None:
        now = self.now()
        context = {
            "aws:SourceIp": ipaddress.ip_address(source_ip),
            "aws:CurrentTime": now,
            "aws:EpochTime": int(now.timestamp()),
            "aws:PrincipalArn": self.caller.arn,
            "aws:PrincipalAccount": self.caller.account,
            "aws:PrincipalType": "User",
            "aws:userid": self.caller.user_id,
            "aws:username": load.USER,
            "sts:RoleSessionName": session_name,
        }
        request = Request(self.caller, "sts:AssumeRole", role_arn, role_arn.split(":")[4] if role_arn.count(":") >= 5 else "", context)
        if not evaluate(request, self.trust).allowed or not evaluate(request, self.identity).allowed:
            return None
        key_id = tokens.new_access_key_id("ASIA", account=self.caller.account)
        secret = tokens.new_secret_access_key()
        expires = now + dt.timedelta(seconds=SESSION_SECONDS)
        role_name = role_arn.rsplit("/", 1)[-1]
        claims = SessionClaims(
            kind="assumed-role",
            access_key_id=key_id,
            secret_access_key=secret,
            account=self.caller.account,
            issued_at=now,
            expires_at=expires,
            session_name=session_name,
            role_arn=role_arn,
            role_id=ROLE_ID,
            role_name=role_name,
            source_ip=source_ip,
        )
        request_id = str(uuid.uuid4())
        body = _ASSUME_ROLE.format(
            key_id=key_id,
            secret=secret,
            token=tokens.seal(claims, self.token_key),
            expiration=expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            role_id=ROLE_ID,
            session=session_name,
            session_arn=f"arn:aws:sts::{self.caller.account}:assumed-role/{role_name}/{session_name}",
            request_id=request_id,
        ).encode()
        record = json.dumps(
            {
                "time": now.isoformat(),
                "requestId": request_id,
                "caller": self.caller.arn,
                "callerKeyId": self.access_key_id,
                "sourceIp": source_ip,
                "roleArn": role_arn,
                "roleSessionName": session_name,
                "issuedKeyId": key_id,
                "expiration": expires.isoformat(),
            }
        )
        return body, record

    # -- ASGI ----------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await receive()  # the (empty) body of a GET
        host = next((value.decode("latin-1") for name, value in scope["headers"] if name == b"host"), "")
        params = self.verified(scope["method"], scope["path"], scope["query_string"].decode("latin-1"), host)
        answered = self.answer(params, (scope.get("client") or ("",))[0]) if params is not None else None
        body, record = answered or (_FORBIDDEN, None)
        if record is not None and self.journal is not None:
            try:
                await asyncio.wrap_future(self.journal.append(record))  # committed before it is answered
            except sqlite3.Error:
                answered, body = None, _FORBIDDEN
        status = 200 if answered is not None else 403
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/xml"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _from_environment() -> Floor | None:
    key_id, secret = os.environ.get(KEY_ID_VARIABLE), os.environ.get(SECRET_VARIABLE)
    if not (key_id and secret):
        return None
    path = os.environ.get(JOURNAL_VARIABLE) or os.path.join(tempfile.mkdtemp(prefix="floor-journal-"), "journal.db")
    return Floor(key_id, secret, journal=Journal(path))


_app = _from_environment()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The uvicorn entry point: the floor for the key pair in the environment."""
    if _app is None:
        raise RuntimeError(f"set {KEY_ID_VARIABLE} and {SECRET_VARIABLE}")
    await _app(scope, receive, send)
