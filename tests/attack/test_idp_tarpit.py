"""Unauthenticated AssumeRoleWithWebIdentity calls naming a tarpit issuer (a listener that
accepts and never answers) cannot take the server's worker threads: at most two key
fetches are in flight across issuers and one per issuer, a request that would wait
for another's fetch waits briefly and a bounded number at once, the rest are refused
IDPCommunicationError at once. Root's CreateUser completes while the fetches are still
pending (the server is given a fetch deadline far beyond the test, so they end only
when the tarpit closes)."""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError
from serverproc import CLIENT_CONFIG, REGION, TesseraServer
from tarpit import Tarpit

from tessera.auth.oidc_keys import UNREACHABLE

CALLS = 16


def _b64(document: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()


def _token(issuer: str) -> str:
    claims = {"iss": issuer, "sub": "x", "aud": "sts.amazonaws.com", "iat": int(time.time()), "exp": int(time.time()) + 600}
    return f"{_b64({'alg': 'RS256', 'kid': 'k', 'typ': 'JWT'})}.{_b64(claims)}.AAAA"


def test_a_tarpit_issuer_cannot_take_the_worker_threads(fresh_target: Any) -> None:
    tarpit = Tarpit()
    server: TesseraServer = fresh_target(env={"TESSERA_OIDC_TIMEOUT_SECONDS": "600"})
    iam = server.client("iam")
    issuers = [f"https://127.0.0.1:{tarpit.port}/p{n}" for n in range(4)]
    for issuer in issuers:
        iam.create_open_id_connect_provider(Url=issuer, ClientIDList=["sts.amazonaws.com"])
    statement = {"Effect": "Allow", "Principal": {"AWS": server.account_id}, "Action": "sts:AssumeRole"}
    trust = {"Version": "2012-10-17", "Statement": [statement]}
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(trust))
    config = CLIENT_CONFIG.merge(
        Config(signature_version=botocore.UNSIGNED, retries={"max_attempts": 1}, read_timeout=900, max_pool_connections=CALLS)
    )
    sts = boto3.client("sts", endpoint_url=server.endpoint, region_name=REGION, config=config)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attack(issuer: str) -> None:
        try:
            sts.assume_role_with_web_identity(
                RoleArn=f"arn:aws:iam::{server.account_id}:role/r", RoleSessionName="ss", WebIdentityToken=_token(issuer)
            )
            outcome = "granted"
        except ClientError as error:
            outcome = error.response["Error"]["Code"]
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=attack, args=(issuers[n % 4],), daemon=True) for n in range(CALLS)]
    try:
        for thread in threads:
            thread.start()
        # two fetches have reached the tarpit (and hold their worker threads)
        assert tarpit.connected.acquire(timeout=20) and tarpit.connected.acquire(timeout=20), outcomes
        iam.create_user(UserName="still-served")
        with lock:
            pending = CALLS - len(outcomes)
        assert pending >= 2  # the fetches are still in flight
        assert len(tarpit.accepted) == 2  # never more than two fetches at once
        assert iam.get_user(UserName="still-served")["User"]["UserName"] == "still-served"
    finally:
        tarpit.close()
    for thread in threads:
        thread.join(timeout=120)
    assert outcomes == ["IDPCommunicationError"] * CALLS


def test_the_caller_learns_nothing_of_the_address(target: TesseraServer) -> None:
    """A closed port and a silent one answer alike: the generic message, no host, port or
    reason (STS is no port scanner)."""
    tarpit = Tarpit()
    closed = Tarpit()
    closed_port, silent_port = closed.port, tarpit.port
    closed.close()
    iam = target.client("iam")
    issuers = [f"https://127.0.0.1:{tarpit.port}/silent", f"https://127.0.0.1:{closed_port}/closed"]
    statement = {"Effect": "Allow", "Principal": {"AWS": target.account_id}, "Action": "sts:AssumeRole"}
    iam.create_role(RoleName="scan", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
    config = CLIENT_CONFIG.merge(Config(signature_version=botocore.UNSIGNED, read_timeout=120))
    sts = boto3.client("sts", endpoint_url=target.endpoint, region_name=REGION, config=config)
    messages = []
    try:
        for issuer in issuers:
            iam.create_open_id_connect_provider(Url=issuer, ClientIDList=["sts.amazonaws.com"])
            try:
                sts.assume_role_with_web_identity(
                    RoleArn=f"arn:aws:iam::{target.account_id}:role/scan", RoleSessionName="ss", WebIdentityToken=_token(issuer)
                )
            except ClientError as error:
                messages.append((error.response["Error"]["Code"], error.response["Error"]["Message"]))
    finally:
        tarpit.close()
    assert messages == [("IDPCommunicationError", UNREACHABLE)] * 2
    assert not any(str(port) in message for port in (silent_port, closed_port) for _, message in messages)
