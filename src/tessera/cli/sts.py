"""Session commands: ``keys rotate``, ``roles revoke-sessions``, ``credential-process``
and ``assume``.

``keys rotate`` works on the store directly (an operator command, like a migration).
The others are API clients: they call a running Tessera with botocore, so they are
authenticated and authorized like any other request, and work against AWS too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from tessera.arn import Arn
from tessera.cli.serve import store_runtime
from tessera.clock import iso_seconds
from tessera.services.revocation import REVOKE_POLICY_NAME, revoke_policy

DEFAULT_ENDPOINT = "http://127.0.0.1:8686"
DEFAULT_REGION = "us-east-1"


def register(subparsers: Any) -> None:
    _register_keys(subparsers)
    _register_roles(subparsers)
    _register_credential_process(subparsers)
    _register_assume(subparsers)


# -- keys rotate ----------------------------------------------------------------------


def _register_keys(subparsers: Any) -> None:
    keys = subparsers.add_parser("keys", help="manage the session-token signing keys")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="COMMAND")
    keys_sub.required = True
    rotate = keys_sub.add_parser(
        "rotate",
        help="add a new session-token key; tokens sealed with older keys keep working until they expire",
    )
    rotate.add_argument("--data-dir", required=True, help="the server's data directory (master key, SQLite)")
    rotate.add_argument("--database-url", help="SQLAlchemy URL of the store (default: SQLite in the data dir)")
    rotate.add_argument(
        "--activate-in",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="start sealing with the new key after this delay, once every node has loaded it (default 30)",
    )
    rotate.set_defaults(func=keys_rotate)


def keys_rotate(args: argparse.Namespace) -> int:
    from tessera.services.keys import rotate_token_key

    with store_runtime(args, "tessera keys rotate") as runtime:
        key_id = rotate_token_key(runtime, activation_delay=dt.timedelta(seconds=args.activate_in))
    print(key_id)
    return 0


# -- roles revoke-sessions ------------------------------------------------------------


def _register_roles(subparsers: Any) -> None:
    roles = subparsers.add_parser("roles", help="role session commands")
    roles_sub = roles.add_subparsers(dest="roles_command", metavar="COMMAND")
    roles_sub.required = True
    revoke = roles_sub.add_parser(
        "revoke-sessions",
        help="deny everything to the role's sessions issued before now (AWS's AWSRevokeOlderSessions policy)",
    )
    revoke.add_argument("role_arn", metavar="ROLE_ARN")
    revoke.add_argument(
        "--issued-before",
        metavar="TIMESTAMP",
        help="revoke sessions issued before this ISO 8601 UTC time instead of now",
    )
    _client_options(revoke)
    revoke.set_defaults(func=roles_revoke_sessions)


def roles_revoke_sessions(args: argparse.Namespace) -> int:
    role_name = _role_name(args.role_arn)
    if role_name is None:
        return _fail(f"'{args.role_arn}' is not a role ARN")
    issued_before = _parse_time(args.issued_before) if args.issued_before else dt.datetime.now(dt.UTC)
    if issued_before is None:
        return _fail(f"'{args.issued_before}' is not an ISO 8601 time")
    return _call(
        lambda: _client(args, "iam").put_role_policy(
            RoleName=role_name, PolicyName=REVOKE_POLICY_NAME, PolicyDocument=revoke_policy(issued_before)
        ),
        lambda _: print(f"Revoked sessions of {args.role_arn} issued before {issued_before.isoformat()}"),
    )


# -- credential-process and assume ----------------------------------------------------


def _register_credential_process(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "credential-process",
        help="assume a role and print the credentials as AWS's credential_process JSON",
    )
    parser.add_argument("--role-arn", required=True)
    _assume_options(parser)
    parser.set_defaults(func=credential_process)


def _register_assume(subparsers: Any) -> None:
    parser = subparsers.add_parser("assume", help='assume a role and print shell exports: eval "$(tessera assume ROLE_ARN)"')
    parser.add_argument("role_arn", metavar="ROLE_ARN")
    _assume_options(parser)
    parser.set_defaults(func=assume)


def credential_process(args: argparse.Namespace) -> int:
    return _call(lambda: _assume_role(args), lambda creds: _print_credential_process(creds, sys.stdout))


def assume(args: argparse.Namespace) -> int:
    return _call(lambda: _assume_role(args), lambda creds: _print_exports(creds, sys.stdout))


def _assume_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--session-name", help="RoleSessionName (default: tessera-<user>-<epoch>)")
    parser.add_argument("--duration", type=int, metavar="SECONDS", help="DurationSeconds")
    parser.add_argument("--external-id", help="ExternalId the role's trust policy expects")
    parser.add_argument("--serial-number", help="MFA device serial number or ARN")
    parser.add_argument("--token-code", help="the MFA device's current code")
    parser.add_argument("--source-identity", help="SourceIdentity to set on the session")
    _client_options(parser)


def _assume_role(args: argparse.Namespace) -> Mapping[str, Any]:
    request: dict[str, Any] = {
        "RoleArn": args.role_arn,
        "RoleSessionName": args.session_name or _default_session_name(),
    }
    optional = {
        "DurationSeconds": args.duration,
        "ExternalId": args.external_id,
        "SerialNumber": args.serial_number,
        "TokenCode": args.token_code,
        "SourceIdentity": args.source_identity,
    }
    request.update({k: v for k, v in optional.items() if v is not None})
    response = _client(args, "sts").assume_role(**request)
    credentials: Mapping[str, Any] = response["Credentials"]
    return credentials


def _print_credential_process(credentials: Mapping[str, Any], out: TextIO) -> None:
    """The JSON the AWS SDKs and CLI read from a ``credential_process`` command."""
    document = {
        "Version": 1,
        "AccessKeyId": credentials["AccessKeyId"],
        "SecretAccessKey": credentials["SecretAccessKey"],
        "SessionToken": credentials["SessionToken"],
        "Expiration": _iso(credentials["Expiration"]),
    }
    out.write(json.dumps(document) + "\n")


def _print_exports(credentials: Mapping[str, Any], out: TextIO) -> None:
    values = {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
        "AWS_CREDENTIAL_EXPIRATION": _iso(credentials["Expiration"]),
    }
    for name, value in values.items():
        out.write(f"export {name}={shlex.quote(value)}\n")


# -- shared -----------------------------------------------------------------------------


def _client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("TESSERA_ENDPOINT_URL", DEFAULT_ENDPOINT),
        help=f"Tessera's URL (default: $TESSERA_ENDPOINT_URL or {DEFAULT_ENDPOINT})",
    )
    parser.add_argument("--profile", help="AWS profile whose credentials sign the request")
    parser.add_argument("--region", help=f"signing region (default: the profile's, else {DEFAULT_REGION})")


def _client(args: argparse.Namespace, service: str) -> Any:
    import botocore.session

    session = botocore.session.Session(profile=args.profile)
    region = args.region or session.get_config_variable("region") or DEFAULT_REGION
    return session.create_client(service, region_name=region, endpoint_url=args.endpoint_url)


def _call(request: Callable[[], Any], report: Callable[[Any], None]) -> int:
    """Run one API request; print AWS's error code and message (not a traceback) on failure."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        result = request()
    except ClientError as error:
        info = error.response.get("Error", {})
        return _fail(f"{info.get('Code', 'Error')}: {info.get('Message', '')}")
    except BotoCoreError as error:
        return _fail(str(error))
    report(result)
    return 0


def _fail(message: str) -> int:
    print(f"tessera: {message}", file=sys.stderr)
    return 1


def _role_name(role_arn: str) -> str | None:
    arn = Arn.parse(role_arn, any_prefix=True)
    if arn is None or arn.service != "iam" or not arn.resource.startswith("role/"):
        return None
    return arn.resource_name or None


def _default_session_name() -> str:
    user = "".join(c for c in os.environ.get("USER", "cli") if c.isalnum() or c in "+=,.@-_")[:32] or "cli"
    return f"tessera-{user}-{int(dt.datetime.now(dt.UTC).timestamp())}"


def _iso(value: dt.datetime | str) -> str:
    return value if isinstance(value, str) else iso_seconds(value)


def _parse_time(text: str) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
