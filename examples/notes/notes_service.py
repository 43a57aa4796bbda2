"""The notes service: an example resource server whose clients sign with Tessera credentials.

A plain ASGI application (run it under uvicorn) keeping notebooks and notes in SQLite,
speaking rest-json as described by ``models/notes/2026-12-01/service-2.json``, and
authorized request by request by Tessera through the ``tessera_authz`` middleware.

Notebooks belong to the account that runs the service (``NOTES_ACCOUNT``): its identities
need an identity policy; another account's identities need an identity policy in their
account *and* the notebook's resource policy (PutNotebookPolicy) naming them. A
notebook's tags are its ``aws:ResourceTag/…`` keys.

Settings (environment): ``TESSERA_ENDPOINT`` (Tessera's URL), ``NOTES_ACCOUNT``,
``NOTES_REGION`` (default us-east-1), ``NOTES_DB`` (SQLite file, default notes.db). The
service's own credentials come from botocore's standard chain (``AWS_ACCESS_KEY_ID``…,
``AWS_PROFILE``, container or web identity credentials).

    uvicorn --factory notes_service:create_app --app-dir examples/notes --port 8700
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

from tessera_authz import Authorizer, AuthzMiddleware, Resource, Route, RouteTable, make_client
from tessera_authz.routes import Match

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

NOTEBOOK = "arn:{partition}:notes:{region}:{account}:notebook/{notebook}"
NOTE = NOTEBOOK + "/note/{note}"
NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
ARN = re.compile(r"arn:aws:notes:([a-z0-9-]+):(\d{12}):notebook/([A-Za-z0-9._-]{1,64})")

SCHEMA = """
CREATE TABLE IF NOT EXISTS notebooks (name TEXT PRIMARY KEY, account TEXT NOT NULL, policy TEXT, tags TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS notes (notebook TEXT NOT NULL REFERENCES notebooks(name), id TEXT NOT NULL, text TEXT NOT NULL,
                                  author TEXT NOT NULL, PRIMARY KEY (notebook, id));
"""


class NotFound(Exception):
    pass


class Invalid(Exception):
    pass


class Store:
    """Notebooks and notes in one SQLite file (a connection per use: the lookups run in threads)."""

    def __init__(self, path: str) -> None:
        self.path = path
        with self.connect() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10)
        try:
            with db:
                yield db
        finally:
            db.close()

    def notebook(self, name: str) -> Resource | None:
        with self.connect() as db:
            row = db.execute("SELECT account, policy, tags FROM notebooks WHERE name = ?", (name,)).fetchone()
        return Resource(account=row[0], policy=row[1], tags=json.loads(row[2])) if row else None


def _json(status: int, document: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [("Content-Type", "application/json")], json.dumps(document).encode()


def _error(status: int, code: str, message: str) -> tuple[int, list[tuple[str, str]], bytes]:
    status, headers, body = _json(status, {"__type": code, "message": message})
    return status, [*headers, ("x-amzn-ErrorType", code)], body


class Notes:
    """The operations, once the middleware allowed the request (``scope["tessera.*"]``)."""

    def __init__(self, store: Store, account: str, region: str) -> None:
        self.store = store
        self.account = account
        self.region = region

    def arn(self, name: str, account: str | None = None) -> str:
        return f"arn:aws:notes:{self.region}:{account or self.account}:notebook/{name}"

    def owned(self, name: str) -> Resource:
        found = self.store.notebook(name)
        if found is None:
            raise NotFound(f"Notebook {name} does not exist.")
        return found

    def CreateNotebook(self, params: dict[str, str], body: dict[str, Any], author: str) -> Any:
        name = params["notebook"]
        with self.store.connect() as db:
            try:
                db.execute("INSERT INTO notebooks (name, account) VALUES (?, ?)", (name, self.account))
            except sqlite3.IntegrityError:
                return _error(409, "ConflictException", f"Notebook {name} already exists.")
        return _json(200, {"Notebook": {"Name": name, "Arn": self.arn(name), "Owner": self.account}})

    def PutNote(self, params: dict[str, str], body: dict[str, Any], author: str) -> Any:
        self.owned(params["notebook"])
        text = body.get("Text")
        if not isinstance(text, str):
            raise Invalid("Text is required.")
        with self.store.connect() as db:
            db.execute(
                "INSERT INTO notes (notebook, id, text, author) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (notebook, id) DO UPDATE SET text = excluded.text, author = excluded.author",
                (params["notebook"], params["note"], text, author),
            )
        return _json(200, {"Note": {"NoteId": params["note"], "Text": text, "Author": author}})

    def GetNote(self, params: dict[str, str], body: dict[str, Any], author: str) -> Any:
        self.owned(params["notebook"])
        with self.store.connect() as db:
            row = db.execute(
                "SELECT text, author FROM notes WHERE notebook = ? AND id = ?", (params["notebook"], params["note"])
            ).fetchone()
        if row is None:
            raise NotFound(f"Note {params['note']} does not exist.")
        return _json(200, {"Note": {"NoteId": params["note"], "Text": row[0], "Author": row[1]}})

    def ListNotes(self, params: dict[str, str], body: dict[str, Any], author: str) -> Any:
        self.owned(params["notebook"])
        with self.store.connect() as db:
            rows = db.execute("SELECT id, author FROM notes WHERE notebook = ? ORDER BY id", (params["notebook"],)).fetchall()
        return _json(200, {"Notes": [{"NoteId": i, "Author": a} for i, a in rows]})

    def DeleteNote(self, params: dict[str, str], body: dict[str, Any], author: str) -> Any:
        self.owned(params["notebook"])
        with self.store.connect() as db:
            gone = db.execute("DELETE FROM notes WHERE notebook = ? AND id = ?", (params["notebook"], params["note"])).rowcount
        if not gone:
            raise NotFound(f"Note {params['note']} does not exist.")
        return _json(200, {})

    def PutNotebookPolicy(self, params: dict[str, str], body: dict[str, Any], author: str) -> Any:
        self.owned(params["notebook"])
        document = body.get("Policy")
        if not isinstance(document, str):
            raise Invalid("Policy is required.")
        try:
            if not isinstance(json.loads(document), dict):
                raise ValueError
        except ValueError:
            raise Invalid("Policy is not a JSON policy document.") from None
        with self.store.connect() as db:
            db.execute("UPDATE notebooks SET policy = ? WHERE name = ?", (document, params["notebook"]))
        return _json(200, {})

    def TagResource(self, params: dict[str, str], body: dict[str, Any], author: str) -> Any:
        found = ARN.fullmatch(params["arn"])
        if found is None:
            raise Invalid(f"{params['arn']} is not a notebook ARN.")
        notebook = self.owned(found.group(3))
        if (found.group(1), found.group(2)) != (self.region, notebook.account):
            raise NotFound(f"Notebook {params['arn']} does not exist.")
        tags = body.get("Tags")
        if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
            raise Invalid("Tags must map keys to values.")
        with self.store.connect() as db:
            db.execute("UPDATE notebooks SET tags = ? WHERE name = ?", (json.dumps({**notebook.tags, **tags}), found.group(3)))
        return _json(200, {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        action = scope.get("tessera.action")
        if scope["path"] == "/healthz":
            reply = _json(200, {"status": "ok"})
        else:
            try:
                document = json.loads(body) if body else {}
                if not isinstance(document, dict):
                    raise Invalid("The body must be a JSON object.")
                params = scope["tessera.params"]
                for key in ("notebook", "note"):
                    if key in params and not NAME.fullmatch(params[key]):
                        raise Invalid(f"{params[key]!r} is not a valid name.")
                handler = getattr(self, str(action).split(":", 1)[1])
                reply = handler(params, document, scope["tessera.principal"]["Arn"])
            except NotFound as e:
                reply = _error(404, "ResourceNotFoundException", str(e))
            except (Invalid, ValueError) as e:
                reply = _error(400, "ValidationException", str(e))
        status, headers, payload = reply
        raw = [(k.lower().encode(), v.encode()) for k, v in [*headers, ("Content-Length", str(len(payload)))]]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": payload})


def routes(store: Store) -> RouteTable:
    def notebook(match: Match) -> Resource | None:
        return store.notebook(match.params["notebook"])

    def tagged(match: Match) -> Resource | None:
        found = ARN.fullmatch(match.params["arn"])
        return store.notebook(found.group(3)) if found else None

    def request_tags(match: Match, request: Any) -> dict[str, tuple[str, list[str]]]:
        try:
            tags = json.loads(request["body"]).get("Tags") or {}
        except (ValueError, AttributeError):
            tags = {}
        if not isinstance(tags, dict):
            return {}
        entries = {f"aws:RequestTag/{k}": ("string", [str(v)]) for k, v in tags.items()}
        return {**entries, "aws:TagKeys": ("stringList", [str(k) for k in tags])} if tags else {}

    return RouteTable(
        [
            Route("GET", "/healthz", "", public=True),
            Route("PUT", "/notebooks/{notebook}", "notes:CreateNotebook", NOTEBOOK, lookup=notebook),
            Route("PUT", "/notebooks/{notebook}/policy", "notes:PutNotebookPolicy", NOTEBOOK, lookup=notebook),
            Route("GET", "/notebooks/{notebook}/notes", "notes:ListNotes", NOTEBOOK, lookup=notebook),
            Route("PUT", "/notebooks/{notebook}/notes/{note}", "notes:PutNote", NOTE, lookup=notebook),
            Route("GET", "/notebooks/{notebook}/notes/{note}", "notes:GetNote", NOTE, lookup=notebook),
            Route("DELETE", "/notebooks/{notebook}/notes/{note}", "notes:DeleteNote", NOTE, lookup=notebook),
            Route("POST", "/tags/{arn}", "notes:TagResource", "{arn}", lookup=tagged, context=request_tags),
        ]
    )


def create_app() -> Any:
    """The service behind the authorization middleware (uvicorn's ``--factory``)."""
    account = os.environ["NOTES_ACCOUNT"]
    region = os.environ.get("NOTES_REGION", "us-east-1")
    store = Store(os.environ.get("NOTES_DB", "notes.db"))
    notes = Notes(store, account, region)
    client = make_client(os.environ["TESSERA_ENDPOINT"], region)
    authorizer = Authorizer(routes(store), service="notes", region=region, account=account, client=client)
    middleware = AuthzMiddleware(notes, authorizer, protocol="rest-json")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await (notes if scope["type"] == "lifespan" else middleware)(scope, receive, send)

    return app
