"""``tessera accounts``: create and list accounts, as the operator, on the data directory.

Like ``tessera keys rotate`` this is an admin tool that opens the store directly
(``--data-dir``/``--database-url``) rather than calling the API: it needs no
credentials, works before anyone holds a key, and is how an operator hands out the
first accounts. It writes through the same service functions and transactions as
Organizations' CreateAccount, so a running server (which polls the store) sees the
new account within its poll interval. API clients use ``organizations:CreateAccount``.

``create`` makes a member account of the management account's organization — creating
that organization (all features, SCPs enabled) if it does not exist yet, as the
management account would with CreateOrganization. ``--standalone`` makes an account
outside any organization instead; such an account is reachable only by its root user,
so it always gets a root access key (printed once).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tessera.cli.serve import add_store_arguments, store_runtime
from tessera.errors import TesseraError

if TYPE_CHECKING:
    from tessera.services.organizations.model import Organizations
    from tessera.services.records import AccountRecord


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("accounts", help="create and list accounts (operates on the data directory)")
    commands = parser.add_subparsers(dest="accounts_command", metavar="ACTION")
    commands.required = True

    create = commands.add_parser("create", help="create an account (an organization member by default)")
    create.add_argument("name", metavar="NAME", help="account name (1-50 printable ASCII characters)")
    create.add_argument("--email", help="e-mail address (default: <name>-<account id>@tessera.invalid)")
    create.add_argument("--role-name", default="OrganizationAccountAccessRole", help="the access role to create")
    create.add_argument("--standalone", action="store_true", help="outside any organization (gets a root key)")
    create.add_argument("--root-key", action="store_true", help="also create a root access key and print it once")
    create.add_argument("--json", action="store_true", help="print the result as JSON")
    add_store_arguments(create)
    create.set_defaults(func=run_create)

    root_password = commands.add_parser(
        "set-root-password",
        help="set the root user's console password (read from standard input, or asked for on a terminal)",
    )
    root_password.add_argument("--account", help="the account (default: the management account)")
    add_store_arguments(root_password)
    root_password.set_defaults(func=run_set_root_password)

    listing = commands.add_parser("list", help="list every account and its organization")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_store_arguments(listing)
    listing.set_defaults(func=run_list)


def valid_name(name: str) -> str | None:
    """The CreateAccount rule for names; an error message or None."""
    if not 1 <= len(name) <= 50 or any(not " " <= c <= "~" for c in name):
        return "NAME must be 1-50 printable ASCII characters"
    return None


def run_create(args: argparse.Namespace) -> int:
    from tessera.services.organizations.provision import create_account_as_admin

    problem = valid_name(args.name)
    if problem:
        print(f"tessera accounts create: {problem}", file=sys.stderr)
        return 2
    with store_runtime(args, "tessera accounts create") as runtime:
        try:
            created = create_account_as_admin(
                runtime,
                name=args.name,
                email=args.email,
                role_name=args.role_name,
                standalone=args.standalone,
                root_key=args.root_key,
            )
        except TesseraError as error:
            print(f"tessera accounts create: {error.message}", file=sys.stderr)
            return 1
    result = {k: v for k, v in vars(created).items() if v is not None}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_created(result)
    return 0


def root_password_problem(password: str) -> str | None:
    """AWS's rules for a root user's password: 8 to 128 characters, with at least three of
    upper-case letters, lower-case letters, numbers and symbols
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/root-user-password.html)."""
    if not 8 <= len(password) <= 128:
        return "the password must be 8 to 128 characters"
    classes = (
        any(c.isupper() for c in password),
        any(c.islower() for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    )
    if sum(classes) < 3:
        return "the password needs three of: upper-case letters, lower-case letters, numbers, symbols"
    return None


def read_new_password() -> str | None:
    """The new password: asked twice on a terminal, else the first line of standard input."""
    if sys.stdin.isatty():
        first = getpass.getpass("New root password: ")
        if getpass.getpass("Again: ") != first:
            return None
        return first
    return sys.stdin.readline().rstrip("\r\n")


def run_set_root_password(args: argparse.Namespace) -> int:
    from tessera.console.signin import set_root_password

    password = read_new_password()
    if password is None:
        print("tessera accounts set-root-password: the passwords do not match", file=sys.stderr)
        return 2
    problem = root_password_problem(password)
    if problem:
        print(f"tessera accounts set-root-password: {problem}", file=sys.stderr)
        return 2
    with store_runtime(args, "tessera accounts set-root-password") as runtime:
        try:
            account = args.account or next(
                (state.account_id for state in runtime.view.accounts() if state.info is not None and state.info["management"]), ""
            )
            state = runtime.view.account(account) if account else None
            if state is None or not state.exists:
                print(f"tessera accounts set-root-password: no account {account or '(management)'}", file=sys.stderr)
                return 1
            set_root_password(runtime, account, password, runtime.clock.now())
        except TesseraError as error:
            print(f"tessera accounts set-root-password: {error.message}", file=sys.stderr)
            return 1
    print(f"Set the root user's console password of account {account}")
    return 0


def print_created(result: dict[str, Any]) -> None:
    labels = {
        "account_id": "Account",
        "name": "Name",
        "email": "E-mail",
        "organization_id": "Organization",
        "role_arn": "Access role",
        "access_key_id": "Root access key id",
        "secret_access_key": "Root secret key (shown once)",
    }
    width = max(len(label) for label in labels.values())
    for key, label in labels.items():
        if key in result:
            print(f"{label:<{width}}  {result[key]}")


def run_list(args: argparse.Namespace) -> int:
    from tessera.services.organizations.records import from_view

    with store_runtime(args, "tessera accounts list") as runtime:
        orgs = from_view(runtime.view)
        rows = [account_row(state.info, orgs) for state in runtime.view.accounts() if state.info is not None]
    rows.sort(key=lambda r: (r["created"], r["account_id"]))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows)
    return 0


def account_row(info: AccountRecord, orgs: Organizations) -> dict[str, Any]:
    account_id = info["id"]
    org = orgs.of_account(account_id)
    if org is None:
        role, org_id, parent = "standalone", "", ""
    else:
        role = "management" if org.management_account == account_id else "member"
        org_id, parent = org.id, org.org_path(account_id)
    return {
        "account_id": account_id,
        "name": info["name"],
        "email": info["email"],
        "role": role,
        "organization_id": org_id,
        "parent_path": parent,
        "created": info["created"],
    }


def print_table(rows: Sequence[dict[str, Any]]) -> None:
    columns = [
        ("ACCOUNT", "account_id"),
        ("NAME", "name"),
        ("EMAIL", "email"),
        ("ROLE", "role"),
        ("ORGANIZATION", "organization_id"),
        ("PATH", "parent_path"),
        ("CREATED", "created"),
    ]
    table = [[title for title, _ in columns]] + [[str(row[key]) for _, key in columns] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False)).rstrip())
