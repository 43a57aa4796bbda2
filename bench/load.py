"""Server load: Tessera's AssumeRole and GetCallerIdentity under wrk, against moto and a ceiling.

Every server runs as its own process pinned to core 0; wrk runs pinned to core 1 on
loopback. Requests are pre-signed GET URLs (SigV4 query auth) made before the run, so
the generator only sends bytes; each AssumeRole URL carries its own RoleSessionName and
every URL its own X-Amz-Expires, so no two requests are the same and every one is
verified and evaluated on its own. Each operation runs at concurrency 1, 16 and 64.

In the same run, ``tessera`` also answers AuthorizeRequest (the authorization API) at
concurrency 16: a resource server's header-signed POST, each carrying its own request
of the bench user to a made-up ``notes`` service, signed for it; Tessera verifies both
signatures and decides ``notes:GetNote`` for the bench user (an identity policy with a
condition). Its target is a share of GetCallerIdentity's rate on the same server.

Servers, all measured in the same run:

* ``tessera``: ``tessera serve`` with 10 roles (created through CreateRole); on the
  same server, after AssumeRole and GetCallerIdentity: AssumeRoleWithWebIdentity with
  RS256 tokens, the workload credentials endpoint, and a flood of tokens with unknown
  key ids (``bench/federation.py``: the identity provider is the bench's own, its JWKS
  fetched once and then cached);
* ``tessera-scale``: the same with 100 000 roles in 1 000 accounts, seeded through the
  store before start (``bench/seed.py``), AssumeRole aimed at one of them;
* ``moto``: ``moto_server`` given the same user, policy and role through boto3;
* ``ceiling``: ``bench/ceiling.py``, a fixed XML body from uvicorn + httptools + uvloop,
  one worker: what the stack itself costs;
* ``floor``: ``bench/floor.py`` on the same stack, doing only the checks no shortcut
  may skip (the SigV4 signature; for AssumeRole the trust and identity decisions and a
  sealed session): what any correct server on this stack can reach at best.

A run with any refused response (status ≥ 400) or socket error is reported but is not a
result: the targets it feeds are "not met". Output: a table on stdout and
``bench/results/latest.json``.

Run: ``python -m bench.load`` (``--quick`` for a short run).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from bench import federation, seed, servers, wrk
from tessera.auth import tokens

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "latest.json"
REGION = "us-east-1"
ACCOUNT = "123456789012"
ROOT_KEY_ID = "AKIABENCHROOT0000001"
ROOT_SECRET = "benchRootSecretKey0000000000000000000000"
USER = "bench"
STS_VERSION = "2011-06-15"
ASSUME_ROLE = "AssumeRole"
CALLER_IDENTITY = "GetCallerIdentity"
FIXED = "fixed body"
OPERATIONS = (ASSUME_ROLE, CALLER_IDENTITY)
WEB_IDENTITY = "AssumeRoleWithWebIdentity"
WORKLOAD = "workload-creds"  # GET /workload-credentials
FLOOD = "unknown-kid flood"
FEDERATION = (WEB_IDENTITY, WORKLOAD)
EXPECTED_ROOT = {
    ASSUME_ROLE: b"<AssumeRoleResponse",
    CALLER_IDENTITY: b"<GetCallerIdentityResponse",
    WEB_IDENTITY: b"<AssumeRoleWithWebIdentityResponse",
    WORKLOAD: b'"AccessKeyId"',
}
JWKS_REFETCH_SECONDS = 2.0
"""The least time between two JWKS fetches of one issuer that Tessera is run with here
(``TESSERA_OIDC_REFETCH_SECONDS``; 10 by default): short, so that the flood spans
several periods and shows the limit holding in each."""
FLOOD_SECONDS = 5 * JWKS_REFETCH_SECONDS
AUTHORIZE = "AuthorizeRequest"
AUTHORIZE_TARGET = "TesseraAuthorization_20261201.AuthorizeRequest"
AUTHORIZE_CONCURRENCY = 16
NOTES_SERVICE = "bench-notes-service"
NOTES_HOST = "notes.example.com"
TESSERA, TESSERA_SCALE, MOTO, CEILING, FLOOR = "tessera", "tessera-scale", "moto", "ceiling", "floor"
BASE_EXPIRES = 1800
"""Seconds a pre-signed URL lives (plus its index, which makes each URL distinct); the
whole run ends long before the first one expires."""


@dataclass(frozen=True)
class Settings:
    seconds: float
    warmup: float
    urls: int
    concurrency: tuple[int, ...]
    roles: int
    scale_accounts: int
    scale_roles_per_account: int
    output: Path
    access_log: bool = False  # Tessera's default is on; the bench measures it off unless asked


# -- policies: enough conditions that evaluation is real work -------------------------


def user_arn(account: str = ACCOUNT) -> str:
    return f"arn:aws:iam::{account}:user/{USER}"


def identity_policy() -> str:
    """The bench user may assume bench roles, from loopback, and never an admin role."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AssumeBenchRoles",
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Resource": "arn:aws:iam::*:role/bench-role-*",
                    "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}},
                },
                {"Sid": "NeverAdmin", "Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/admin-*"},
            ],
        }
    )


def trust_policy() -> str:
    """Trusts the bench user only, for session names ``bench-*``, from loopback."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": user_arn()},
                    "Action": "sts:AssumeRole",
                    "Condition": {
                        "StringLike": {"sts:RoleSessionName": "bench-*"},
                        "IpAddress": {"aws:SourceIp": "127.0.0.0/8"},
                    },
                }
            ],
        }
    )


# -- set-up through the API ------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """The bench user's key pair and the role its AssumeRole requests name."""

    access_key_id: str
    secret_access_key: str
    role_arn: str


def client(service: str, endpoint: str, key_id: str = ROOT_KEY_ID, secret: str = ROOT_SECRET) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


def model_client(service: str, models: str | Path, **kwargs: Any) -> Any:
    """A boto3 client of a service whose model is under ``models`` (not one botocore
    ships): a fresh session reads ``AWS_DATA_PATH``, set only while it is made."""
    os.environ["AWS_DATA_PATH"] = str(models)
    try:
        session = boto3.session.Session()
    finally:
        del os.environ["AWS_DATA_PATH"]
    return session.client(service, **kwargs)


def provision(endpoint: str, *, create_roles: int, target_role: str) -> Principal:
    """Create the bench user (inline policy, access key) and ``create_roles`` roles
    through IAM; the target role is ``target_role`` (created here or seeded before)."""
    iam = client("iam", endpoint)
    iam.create_user(UserName=USER)
    iam.put_user_policy(UserName=USER, PolicyName="assume-bench-roles", PolicyDocument=identity_policy())
    for name in seed.role_names(create_roles):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_policy())
    key = iam.create_access_key(UserName=USER)["AccessKey"]
    return Principal(key["AccessKeyId"], key["SecretAccessKey"], target_role)


# -- pre-signed requests ---------------------------------------------------------------


def presign(endpoint: str, credentials: Credentials, params: dict[str, str], expires: int) -> str:
    """One SigV4 query-signed GET, as path and query (what wrk sends after the host)."""
    request = AWSRequest(method="GET", url=endpoint + "/", params=params)
    SigV4QueryAuth(credentials, "sts", REGION, expires=expires).add_auth(request)
    parts = urlsplit(request.url)
    return f"{parts.path}?{parts.query}"


def operation_params(operation: str, principal: Principal, index: int) -> dict[str, str]:
    params = {"Action": operation, "Version": STS_VERSION}
    if operation == ASSUME_ROLE:
        params |= {"RoleArn": principal.role_arn, "RoleSessionName": f"bench-{index:05d}"}
    return params


def write_targets(path: Path, endpoint: str, principal: Principal, operation: str, count: int) -> list[str]:
    credentials = Credentials(principal.access_key_id, principal.secret_access_key)
    targets = [presign(endpoint, credentials, operation_params(operation, principal, i), BASE_EXPIRES + i) for i in range(count)]
    path.write_text("\n".join(targets) + "\n")
    return targets


# -- AuthorizeRequest: a resource server's signed POSTs, each with a signed client request --


def notes_policy() -> str:
    """The bench user may read notes, from loopback (the address its resource server reports)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ReadNotes",
                    "Effect": "Allow",
                    "Action": "notes:GetNote",
                    "Resource": f"arn:aws:notes:{REGION}:{ACCOUNT}:note/*",
                    "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}},
                },
                {"Sid": "NeverDelete", "Effect": "Deny", "Action": "notes:DeleteNote", "Resource": "*"},
            ],
        }
    )


def provision_authorizer(endpoint: str) -> Credentials:
    """The notes resource server (a user allowed to authorize for ``notes``) and the bench
    user's permission to read notes; returns the resource server's keys."""
    iam = client("iam", endpoint)
    authorizer = f"arn:aws:tessera::{ACCOUNT}:authorizer/notes"
    allowed = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "tessera:AuthorizeRequest", "Resource": authorizer}]}
    iam.create_user(UserName=NOTES_SERVICE)
    iam.put_user_policy(UserName=NOTES_SERVICE, PolicyName="authorize-notes", PolicyDocument=json.dumps(allowed))
    iam.put_user_policy(UserName=USER, PolicyName="read-notes", PolicyDocument=notes_policy())
    key = iam.create_access_key(UserName=NOTES_SERVICE)["AccessKey"]
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


def authorize_body(principal: Principal, index: int) -> bytes:
    """An AuthorizeRequest for the bench user's signed ``GET /notes/nINDEX``."""
    note = AWSRequest(method="GET", url=f"https://{NOTES_HOST}/notes/n{index}")
    SigV4Auth(Credentials(principal.access_key_id, principal.secret_access_key), "notes", REGION).add_auth(note)
    headers = [{"Name": "Host", "Value": NOTES_HOST}, *({"Name": k, "Value": v} for k, v in note.headers.items())]
    request = {"Method": "GET", "Path": f"/notes/n{index}", "Headers": headers, "SourceIp": "127.0.0.1", "SecureTransport": True}
    params = {
        "Service": "notes",
        "Request": request,
        "Action": "notes:GetNote",
        "Resource": f"arn:aws:notes:{REGION}:{ACCOUNT}:note/n{index}",
    }
    return json.dumps(params, separators=(",", ":")).encode()


def write_authorize_requests(path: Path, endpoint: str, server_creds: Credentials, principal: Principal, count: int) -> list[str]:
    """``count`` distinct header-signed AuthorizeRequest POSTs, one per line (``requests.lua``)."""
    lines = []
    for index in range(count):
        body = authorize_body(principal, index)
        headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": AUTHORIZE_TARGET}
        request = AWSRequest(method="POST", url=endpoint + "/", data=body, headers=headers)
        SigV4Auth(server_creds, "tessera", REGION).add_auth(request)
        fields = ["POST", "/", body.decode(), *(f"{k}: {v}" for k, v in request.headers.items())]
        lines.append("\t".join(fields))
    path.write_text("\n".join(lines) + "\n")
    return lines


def smoke_authorize(server: servers.Server, line: str) -> None:
    method, path, body, *headers = line.split("\t")
    request = urllib.request.Request(
        server.base_url + path, data=body.encode(), method=method, headers=dict(h.split(": ", 1) for h in headers)
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = response.read()
    except urllib.error.HTTPError as error:
        raise SmokeFailed(f"{server.name} {AUTHORIZE}: HTTP {error.code}: {error.read()[:300]!r}") from error
    if b'"Decision":"Allow"' not in answer:
        raise SmokeFailed(f"{server.name} {AUTHORIZE}: not allowed: {answer[:300]!r}")


def run_authorize(report: ServerReport, server: servers.Server, principal: Principal, settings: Settings, work: Path) -> None:
    """AuthorizeRequest at concurrency 16 on a server already measured for the STS calls."""
    server_creds = provision_authorizer(server.base_url)
    requests_file = work / f"{report.name}-{AUTHORIZE}.txt"
    lines = write_authorize_requests(requests_file, server.base_url, server_creds, principal, settings.urls)
    try:
        smoke_authorize(server, lines[0])
    except SmokeFailed as error:
        report.failures.append(str(error))
        print(f"  {error}", file=sys.stderr)
        return
    at_16 = dataclasses.replace(settings, concurrency=(AUTHORIZE_CONCURRENCY,))
    measure_workload(report, server, AUTHORIZE, requests_file, at_16, script=wrk.REQUESTS_SCRIPT)


# -- measuring -------------------------------------------------------------------------


@dataclass
class Measurement:
    server: str
    operation: str
    concurrency: int
    result: wrk.WrkResult
    server_cpu: float  # share of one core the server used during the run

    def as_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "operation": self.operation,
            "concurrency": self.concurrency,
            "server_cpu": round(self.server_cpu, 3),
            **self.result.as_dict(),
        }


@dataclass
class ServerReport:
    name: str
    measurements: list[Measurement] = field(default_factory=list)
    rss_kib: int | None = None
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    flood: Flood | None = None


class SmokeFailed(Exception):
    """The first request of a workload did not succeed: measuring it would time refusals."""


def smoke(server: servers.Server, target: str, operation: str, headers: Sequence[str]) -> None:
    request = urllib.request.Request(server.base_url + target, headers=dict(h.split(": ", 1) for h in headers))
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
    except urllib.error.HTTPError as error:
        raise SmokeFailed(f"{server.name} {operation}: HTTP {error.code}: {error.read()[:300]!r}") from error
    expected = EXPECTED_ROOT.get(operation)
    if expected is not None and expected not in body:
        raise SmokeFailed(f"{server.name} {operation}: unexpected body {body[:200]!r}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (utime and stime of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_workload(
    report: ServerReport,
    server: servers.Server,
    operation: str,
    targets_file: Path,
    settings: Settings,
    headers: Sequence[str] = (),
    script: Path = wrk.SCRIPT,
) -> None:
    """Warm up, then one wrk run per concurrency; progress on stderr."""
    warmup = max(settings.concurrency)
    wrk.run(server.base_url, targets_file, connections=warmup, seconds=settings.warmup, headers=headers, script=script)
    for connections in settings.concurrency:
        before = cpu_seconds(server.pid)
        result = wrk.run(server.base_url, targets_file, connections=connections, seconds=settings.seconds, headers=headers, script=script)
        cpu = (cpu_seconds(server.pid) - before) / result.seconds if result.seconds else 0.0
        report.measurements.append(Measurement(report.name, operation, connections, result, cpu))
        print(
            f"  {report.name:<13} {operation:<18} c={connections:<3} {result.rps:>9.0f} req/s  "
            f"p99 {result.p99_ms:7.2f} ms  refused {result.refused}",
            file=sys.stderr,
        )


def run_operations(
    report: ServerReport,
    server: servers.Server,
    principal: Principal,
    settings: Settings,
    work: Path,
    headers: Sequence[str] = (),
) -> None:
    """Both operations against one provisioned server; a failed smoke test skips only
    that operation."""
    for operation in OPERATIONS:
        targets_file = work / f"{report.name}-{operation}.txt"
        targets = write_targets(targets_file, server.base_url, principal, operation, settings.urls)
        try:
            smoke(server, targets[0], operation, headers)
        except SmokeFailed as error:
            report.failures.append(str(error))
            print(f"  {error}", file=sys.stderr)
            continue
        measure_workload(report, server, operation, targets_file, settings, headers)
    report.rss_kib = server.rss_kib()


# -- the four servers --------------------------------------------------------------------


def executable(name: str) -> str:
    """A console script of this virtualenv (beside the running interpreter)."""
    sibling = Path(sys.executable).parent / name
    if sibling.exists():
        return str(sibling)
    found = shutil.which(name)
    if found is None:
        raise servers.ServerFailed(f"{name} is not installed (make bench installs the bench extra)")
    return found


def tessera_env() -> dict[str, str]:
    return {
        "TESSERA_ACCOUNT_ID": ACCOUNT,
        "TESSERA_ROOT_ACCESS_KEY_ID": ROOT_KEY_ID,
        "TESSERA_ROOT_SECRET_ACCESS_KEY": ROOT_SECRET,
    }


@contextmanager
def tessera_server(
    name: str, data_dir: Path, logs: Path, *, access_log: bool = False, env: dict[str, str] | None = None
) -> Iterator[servers.Server]:
    port = servers.free_port()
    command = [
        executable("tessera"),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        *([] if access_log else ["--no-access-log"]),
    ]
    with servers.start(name, command, port=port, health_path="/healthz", log_dir=logs, env=tessera_env() | (env or {})) as server:
        yield server


def uvicorn_command(app: str, port: int) -> list[str]:
    """One uvicorn worker serving ``app`` as the baselines run: uvloop, httptools, no
    access log, no extra headers."""
    return [
        executable("uvicorn"),
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--workers",
        "1",
        "--no-access-log",
        "--no-server-header",
        "--no-date-header",
        "--log-level",
        "warning",
    ]


def bench_ceiling(settings: Settings, work: Path) -> ServerReport:
    report = ServerReport(CEILING)
    port = servers.free_port()
    command = uvicorn_command("bench.ceiling:app", port)
    targets_file = work / "ceiling.txt"
    targets_file.write_text("".join(f"/?Action={CALLER_IDENTITY}&Version={STS_VERSION}&n={i}\n" for i in range(settings.urls)))
    with servers.start(CEILING, command, port=port, health_path="/", log_dir=work, cwd=REPO) as server:
        measure_workload(report, server, FIXED, targets_file, settings)
        report.rss_kib = server.rss_kib()
    return report


def bench_floor(settings: Settings, work: Path) -> ServerReport:
    """The floor app with a key pair of its own, sent the same kind of requests."""
    report = ServerReport(FLOOR)
    report.notes.append("SigV4 + (AssumeRole) trust and identity decisions + sealed session + its record committed (fsync); nothing else")
    from bench import floor  # it reads this module's policies

    principal = Principal(
        tokens.new_access_key_id("AKIA", account=ACCOUNT),
        tokens.new_secret_access_key(),
        f"arn:aws:iam::{ACCOUNT}:role/{seed.role_names(settings.roles)[-1]}",
    )
    port = servers.free_port()
    command = uvicorn_command("bench.floor:app", port)
    env = {
        floor.KEY_ID_VARIABLE: principal.access_key_id,
        floor.SECRET_VARIABLE: principal.secret_access_key,
        floor.JOURNAL_VARIABLE: str(work / "floor-journal.db"),
    }
    with servers.start(FLOOR, command, port=port, health_path="/", log_dir=work, cwd=REPO, env=env) as server:
        run_operations(report, server, principal, settings, work)
    return report


def bench_moto(settings: Settings, work: Path) -> ServerReport:
    """moto routes a request to a service by the Authorization header's credential
    scope only (a pre-signed URL alone lands in S3) and verifies no signature, so its
    requests carry a routing-only Authorization header beside the query signature."""
    report = ServerReport(MOTO)
    report.notes.append("moto verifies no signature and evaluates no policy")
    port = servers.free_port()
    command = [executable("moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    with servers.start(MOTO, command, port=port, health_path="/moto-api/", log_dir=work) as server:
        target = f"arn:aws:iam::{ACCOUNT}:role/{seed.role_names(settings.roles)[-1]}"
        principal = provision(server.base_url, create_roles=settings.roles, target_role=target)
        routing = (
            f"Authorization: AWS4-HMAC-SHA256 Credential={principal.access_key_id}/"
            f"{dt.datetime.now(dt.UTC):%Y%m%d}/{REGION}/sts/aws4_request, SignedHeaders=host, Signature=0"
        )
        run_operations(report, server, principal, settings, work, headers=(routing,))
    return report


def bench_tessera(settings: Settings, work: Path) -> ServerReport:
    report = ServerReport(TESSERA)
    report.notes.append(f"{settings.roles} roles in 1 account, created through CreateRole")
    data_dir = work / "tessera-data"
    if settings.access_log:
        report.notes.append("access log on")
    with (
        federation.issuer(work) as idp,
        tessera_server(TESSERA, data_dir, work, access_log=settings.access_log, env=federation_env(idp)) as server,
    ):
        target = f"arn:aws:iam::{ACCOUNT}:role/{seed.role_names(settings.roles)[-1]}"
        principal = provision(server.base_url, create_roles=settings.roles, target_role=target)
        run_operations(report, server, principal, settings, work)
        run_federation(report, server, idp, settings, work)
        run_authorize(report, server, principal, settings, work)
    return report


def federation_env(idp: federation.Issuer) -> dict[str, str]:
    return {"TESSERA_OIDC_CA_BUNDLE": str(idp.ca_file), "TESSERA_OIDC_REFETCH_SECONDS": f"{JWKS_REFETCH_SECONDS:g}"}


def run_federation(report: ServerReport, server: servers.Server, idp: federation.Issuer, settings: Settings, work: Path) -> None:
    """AssumeRoleWithWebIdentity and the workload endpoint measured as AssumeRole is, then
    the unknown-kid flood (at concurrency 16 only) with the JWKS requests it caused."""
    role_arn = federation.provision(client("iam", server.base_url), idp)
    workloads: list[tuple[str, list[str], tuple[str, ...]]] = [
        (WEB_IDENTITY, federation.web_identity_targets(work / "web-identity.txt", idp, role_arn, settings.urls), ()),
        (WORKLOAD, federation.workload_targets(work / "workload.txt", role_arn, settings.urls), (f"Authorization: {idp.token()}",)),
    ]
    for operation, targets, headers in workloads:
        targets_file = work / ("web-identity.txt" if operation == WEB_IDENTITY else "workload.txt")
        try:
            smoke(server, targets[0], operation, headers)
        except SmokeFailed as error:
            report.failures.append(str(error))
            print(f"  {error}", file=sys.stderr)
            continue
        measure_workload(report, server, operation, targets_file, settings, headers)
    flood_file = work / "flood.txt"
    federation.web_identity_targets(flood_file, idp, role_arn, settings.urls, unknown_kid=True)
    start = time.monotonic()
    result = wrk.run(server.base_url, flood_file, connections=16, seconds=FLOOD_SECONDS)
    fetched = idp.jwks_requests_between(start, time.monotonic())
    report.measurements.append(Measurement(report.name, FLOOD, 16, result, 0.0))
    report.flood = Flood(result.requests, result.refused, fetched, result.seconds, JWKS_REFETCH_SECONDS)
    print(f"  {report.flood.describe()}", file=sys.stderr)


@dataclass(frozen=True)
class Flood:
    """What a flood of unknown-kid tokens cost the identity provider."""

    requests: int
    refused: int
    jwks_requests: int
    seconds: float
    refetch_seconds: float

    @property
    def allowed(self) -> int:
        """The most JWKS fetches the refetch limit lets through in the flood's time (the
        first one may come at once)."""
        return int(self.seconds // self.refetch_seconds) + 1

    @property
    def met(self) -> bool:
        return self.requests > 0 and self.refused == self.requests and self.jwks_requests <= self.allowed

    def describe(self) -> str:
        return (
            f"unknown-kid flood: {self.refused}/{self.requests} refused in {self.seconds:.1f}s, "
            f"{self.jwks_requests} JWKS requests at the IdP ({self.jwks_requests / self.seconds:.2f}/s; "
            f"limit 1 per {self.refetch_seconds:g}s: at most {self.allowed})"
        )


def bench_tessera_at_scale(settings: Settings, work: Path) -> ServerReport:
    """100 000 roles (by default) seeded before start; AssumeRole targets a role in the
    management account, so the request is the same as in the 10-role case and only
    the amount of state differs."""
    report = ServerReport(TESSERA_SCALE)
    data_dir = work / "tessera-scale-data"
    started = dt.datetime.now(dt.UTC)
    seeded = seed.seed_roles(
        str(data_dir),
        tessera_env(),
        home_account=ACCOUNT,
        member_accounts=settings.scale_accounts - 1,
        roles_per_account=settings.scale_roles_per_account,
        trust_policy=trust_policy(),
        now=started,
    )
    elapsed = (dt.datetime.now(dt.UTC) - started).total_seconds()
    report.notes.append(f"{seeded.roles} roles in {seeded.accounts} accounts, seeded through the store in {elapsed:.0f}s")
    print(f"  seeded {seeded.roles} roles in {seeded.accounts} accounts in {elapsed:.0f}s", file=sys.stderr)
    with tessera_server(TESSERA_SCALE, data_dir, work, access_log=settings.access_log) as server:
        names = seed.role_names(settings.scale_roles_per_account)
        target = f"arn:aws:iam::{ACCOUNT}:role/{names[len(names) // 2]}"
        principal = provision(server.base_url, create_roles=0, target_role=target)
        run_operations(report, server, principal, settings, work)
    return report


# -- targets and report ----------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    goal: str
    value: float | None
    met: bool
    why: str = ""
    floor: float | None = None
    """What the floor app reached on the same measure: the best any correct server can."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "goal": self.goal,
            "value": self.value,
            "met": self.met,
            "why": self.why,
            "floor": self.floor,
        }


class Results:
    """Every measurement of the run, looked up by (server, operation, concurrency)."""

    def __init__(self, reports: Sequence[ServerReport]) -> None:
        self.reports = list(reports)
        self._by_key = {(m.server, m.operation, m.concurrency): m for r in reports for m in r.measurements}

    def get(self, server: str, operation: str, concurrency: int) -> Measurement | None:
        if server == CEILING:
            operation = FIXED
        return self._by_key.get((server, operation, concurrency))

    def ratio(self, server: str, other: str, operation: str, concurrency: int) -> float | None:
        """``server``'s req/s over ``other``'s, when both runs are results."""
        mine, theirs = self.get(server, operation, concurrency), self.get(other, operation, concurrency)
        if mine is None or theirs is None or not mine.result.clean or not theirs.result.clean or theirs.result.rps == 0:
            return None
        return mine.result.rps / theirs.result.rps

    def report(self, name: str) -> ServerReport | None:
        return next((r for r in self.reports if r.name == name), None)


def throughput_target(results: Results, name: str, goal: str, pair: tuple[str, str], operation: str, least: float) -> Target:
    ratio = results.ratio(pair[0], pair[1], operation, 16)
    bound = results.ratio(FLOOR, pair[1], operation, 16) if pair[0] == TESSERA and pair[1] != FLOOR else None
    bound = None if bound is None else round(bound, 3)
    if ratio is None:
        return Target(name, goal, None, False, _missing_reason(results, pair, operation, 16), bound)
    return Target(name, goal, round(ratio, 3), ratio >= least, floor=bound)


def latency_target(results: Results, operation: str, limit_ms: float) -> Target:
    name, goal = f"{operation} p99 at c=64", f"< {limit_ms:g} ms"
    m = results.get(TESSERA, operation, 64)
    best = results.get(FLOOR, operation, 64)
    bound = best.result.p99_ms if best is not None and best.result.clean else None
    if m is None or not m.result.clean:
        return Target(name, goal, None, False, _missing_reason(results, (TESSERA,), operation, 64), bound)
    return Target(name, goal, m.result.p99_ms, m.result.p99_ms < limit_ms, floor=bound)


def tail_target(results: Results, operation: str, most: float) -> Target:
    """Tessera's p99 over its own p50 at c=64: a tail within ``most`` times the median."""
    name, goal = f"{operation} p99/p50 at c=64", f"<= {most:g}"
    m, best = results.get(TESSERA, operation, 64), results.get(FLOOR, operation, 64)
    bound = None
    if best is not None and best.result.clean and best.result.p50_ms > 0:
        bound = round(best.result.p99_ms / best.result.p50_ms, 2)
    if m is None or not m.result.clean or m.result.p50_ms <= 0:
        return Target(name, goal, None, False, _missing_reason(results, (TESSERA,), operation, 64), bound)
    spread = m.result.p99_ms / m.result.p50_ms
    return Target(name, goal, round(spread, 2), spread <= most, floor=bound)


def _missing_reason(results: Results, names: Sequence[str], operation: str, concurrency: int) -> str:
    for server in names:
        m = results.get(server, operation, concurrency)
        if m is None:
            return f"{server} {operation} c={concurrency} not measured"
        if not m.result.clean:
            return f"{server} {operation} c={concurrency}: {m.result.refused} refused, {m.result.socket_errors} socket errors"
    return "not measured"


def operation_ratio_target(results: Results, operation: str, least: float) -> Target:
    """Tessera's ``operation`` against its own AssumeRole in the same run, at c=16."""
    name, goal = f"{operation} vs AssumeRole (c=16)", f">= {least:g}"
    mine, base = results.get(TESSERA, operation, 16), results.get(TESSERA, ASSUME_ROLE, 16)
    for m, label in ((mine, operation), (base, ASSUME_ROLE)):
        if m is None:
            return Target(name, goal, None, False, f"{TESSERA} {label} c=16 not measured")
        if not m.result.clean:
            return Target(name, goal, None, False, f"{label} c=16: {m.result.refused} refused, {m.result.socket_errors} socket errors")
    assert mine is not None and base is not None
    ratio = mine.result.rps / base.result.rps if base.result.rps else 0.0
    return Target(name, goal, round(ratio, 3), ratio >= least)


def flood_target(results: Results) -> Target:
    name = "unknown-kid flood: JWKS requests at the IdP"
    report = results.report(TESSERA)
    flood = report.flood if report is not None else None
    if flood is None:
        return Target(name, "within the refetch limit", None, False, "not measured")
    goal = f"<= {flood.allowed}"
    why = "" if flood.refused == flood.requests else f"{flood.requests - flood.refused} flood tokens accepted"
    return Target(name, goal, float(flood.jwks_requests), flood.met, why)


def targets(results: Results) -> list[Target]:
    """The goals, at concurrency 16 with one server process: against the floor, the
    tail's spread, then the earlier goals against the ceiling and moto."""
    return [
        throughput_target(results, "AssumeRole vs floor (c=16)", ">= 0.8", (TESSERA, FLOOR), ASSUME_ROLE, 0.8),
        throughput_target(results, "GetCallerIdentity vs floor (c=16)", ">= 0.7", (TESSERA, FLOOR), CALLER_IDENTITY, 0.7),
        tail_target(results, ASSUME_ROLE, 3.0),
        tail_target(results, CALLER_IDENTITY, 3.0),
        throughput_target(results, "AssumeRole vs ceiling (c=16)", ">= 0.40", (TESSERA, CEILING), ASSUME_ROLE, 0.40),
        throughput_target(results, "AssumeRole vs moto (c=16)", ">= 25x", (TESSERA, MOTO), ASSUME_ROLE, 25.0),
        throughput_target(results, "GetCallerIdentity vs ceiling (c=16)", ">= 0.55", (TESSERA, CEILING), CALLER_IDENTITY, 0.55),
        latency_target(results, ASSUME_ROLE, 10.0),
        latency_target(results, CALLER_IDENTITY, 10.0),
        throughput_target(results, "AssumeRole 100k roles vs 10 (c=16)", ">= 0.90", (TESSERA_SCALE, TESSERA), ASSUME_ROLE, 0.90),
        throughput_target(results, "GetCallerIdentity 100k roles vs 10 (c=16)", ">= 0.90", (TESSERA_SCALE, TESSERA), CALLER_IDENTITY, 0.90),
        operation_ratio_target(results, WEB_IDENTITY, 0.8),
        operation_ratio_target(results, WORKLOAD, 0.8),
        flood_target(results),
        authorize_target(results, 0.80),
    ]


def authorize_target(results: Results, least: float) -> Target:
    """AuthorizeRequest's rate over GetCallerIdentity's, both at c=16 on the same server."""
    name, goal = "AuthorizeRequest vs GetCallerIdentity (c=16)", f">= {least:.2f}"
    mine = results.get(TESSERA, AUTHORIZE, AUTHORIZE_CONCURRENCY)
    theirs = results.get(TESSERA, CALLER_IDENTITY, AUTHORIZE_CONCURRENCY)
    if mine is None or theirs is None or not mine.result.clean or not theirs.result.clean or theirs.result.rps == 0:
        return Target(name, goal, None, False, _missing_reason(results, (TESSERA,), AUTHORIZE, AUTHORIZE_CONCURRENCY))
    ratio = mine.result.rps / theirs.result.rps
    return Target(name, goal, round(ratio, 3), ratio >= least)


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(results: Results, concurrency: Sequence[int]) -> str:
    """The measurements, one line per server, operation and concurrency."""
    head = (
        f"{'operation':<25} {'server':<13} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'non-2xx':>8} {'cpu':>5} {'/ceiling':>9} {'/moto':>7}"
    )
    lines = [head, "-" * len(head)]
    rows: list[tuple[str, str]] = [(CEILING, FIXED)] + [
        (server, op) for op in OPERATIONS for server in (FLOOR, TESSERA, TESSERA_SCALE, MOTO)
    ]
    rows += [(TESSERA, op) for op in (*FEDERATION, FLOOD)]
    rows += [(TESSERA, AUTHORIZE)]
    for server, operation in rows:
        for c in concurrency:
            m = results.get(server, operation, c)
            if m is None:
                continue
            r = m.result
            refused = f"{r.refused}" + (f"+{r.socket_errors}e" if r.socket_errors else "")
            vs_ceiling = None if server == CEILING else results.ratio(server, CEILING, operation, c)
            vs_moto = None if server in (CEILING, MOTO) else results.ratio(server, MOTO, operation, c)
            lines.append(
                f"{operation:<25} {server:<13} {c:>4} {r.rps:>9.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} "
                f"{refused:>8} {m.server_cpu:>5.0%} {_fmt(vs_ceiling, '.2f'):>9} {_fmt(vs_moto, '.1f'):>7}"
            )
    return "\n".join(lines)


def memory_table(results: Results) -> str:
    lines = ["resident memory after the run (VmRSS):"]
    for report in results.reports:
        if report.rss_kib is not None:
            lines.append(f"  {report.name:<13} {report.rss_kib / 1024:8.1f} MiB   {'; '.join(report.notes)}")
    return "\n".join(lines)


def targets_table(found: Sequence[Target]) -> str:
    lines = ["targets (tessera, one process):"]
    for t in found:
        value = "-" if t.value is None else f"{t.value:g}"
        verdict = "met" if t.met else "NOT MET"
        floor = "" if t.floor is None else f"  (floor {t.floor:g})"
        lines.append(f"  {t.name:<50} {value:>8}  goal {t.goal:<8} {verdict}{floor}" + (f"  ({t.why})" if t.why else ""))
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")), "")
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def write_json(path: Path, settings: Settings, results: Results, found: Sequence[Target]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {
            "seconds": settings.seconds,
            "warmup": settings.warmup,
            "urls": settings.urls,
            "concurrency": list(settings.concurrency),
            "roles": settings.roles,
            "scale_accounts": settings.scale_accounts,
            "scale_roles_per_account": settings.scale_roles_per_account,
            "server_core": servers.SERVER_CORE,
            "generator_core": servers.GENERATOR_CORE,
            "access_log": settings.access_log,
        },
        "servers": {
            r.name: {"rss_kib": r.rss_kib, "failures": r.failures, "notes": r.notes, "flood": asdict(r.flood) if r.flood else None}
            for r in results.reports
        },
        "measurements": [m.as_dict() for r in results.reports for m in r.measurements],
        "ratios": ratios(results, settings.concurrency),
        "targets": [t.as_dict() for t in found],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")


def ratios(results: Results, concurrency: Sequence[int]) -> list[dict[str, Any]]:
    out = []
    for server in (TESSERA, TESSERA_SCALE):
        for operation in OPERATIONS:
            for c in concurrency:
                out.append(
                    {
                        "server": server,
                        "operation": operation,
                        "concurrency": c,
                        "vs_ceiling": results.ratio(server, CEILING, operation, c),
                        "vs_moto": results.ratio(server, MOTO, operation, c),
                    }
                )
    return out


# -- entry point -----------------------------------------------------------------------


STAGES: dict[str, Callable[[Settings, Path], ServerReport]] = {
    CEILING: bench_ceiling,
    FLOOR: bench_floor,
    MOTO: bench_moto,
    TESSERA: bench_tessera,
    TESSERA_SCALE: bench_tessera_at_scale,
}


def settings_from(args: argparse.Namespace) -> Settings:
    quick = args.quick
    return Settings(
        seconds=args.seconds or (2.0 if quick else 5.0),
        warmup=1.0,
        urls=args.urls or (1000 if quick else 4000),
        concurrency=(1, 16, 64),
        roles=10,
        scale_accounts=args.scale_accounts or 1000,
        scale_roles_per_account=100,
        output=args.output,
        access_log=args.access_log,
    )


def preflight() -> str | None:
    """Why the benchmark cannot run here, or None."""
    if wrk.available() is None:
        return "wrk is not installed (make bench installs it: apt-get install wrk)"
    if shutil.which("taskset") is None:
        return "taskset is not installed (util-linux)"
    if (os.cpu_count() or 1) < 2:
        return "needs two cores: the server on one, the load generator on the other"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 s runs and fewer distinct requests")
    parser.add_argument("--seconds", type=float, help="length of each measured run (default 5)")
    parser.add_argument("--urls", type=int, help="distinct pre-signed requests per workload (default 4000)")
    parser.add_argument("--scale-accounts", type=int, help="accounts of 100 roles in the scale case (default 1000)")
    parser.add_argument("--only", action="append", choices=sorted(STAGES), help="run only these servers (repeatable)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument("--access-log", action="store_true", help="run Tessera with its access log on (its default)")
    args = parser.parse_args(argv)
    problem = preflight()
    if problem:
        print(f"bench.load: {problem}", file=sys.stderr)
        return 2
    settings = settings_from(args)
    reports = []
    with tempfile.TemporaryDirectory(prefix="tessera-bench-") as tmp:
        work = Path(tmp)
        for name, stage in STAGES.items():
            if args.only and name not in args.only:
                continue
            print(f"{name}:", file=sys.stderr)
            try:
                reports.append(stage(settings, work))
            except Exception as error:  # one server failing (start-up, a set-up
                # call it does not support, wrk) must not cost the figures of the others
                reports.append(ServerReport(name, failures=[f"{type(error).__name__}: {error}"]))
                print(f"  {name} failed: {type(error).__name__}: {error}", file=sys.stderr)
    results = Results(reports)
    found = targets(results)
    print()
    print(table(results, settings.concurrency))
    print()
    print(memory_table(results))
    floods = [r.flood.describe() for r in results.reports if r.flood is not None]
    if floods:
        print("\n" + "\n".join(floods))
    failures = [f"  {r.name}: {f}" for r in results.reports for f in r.failures]
    if failures:
        print("\nfailures:\n" + "\n".join(failures))
    print()
    print(targets_table(found))
    write_json(settings.output, settings, results, found)
    print(f"\nJSON: {settings.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
