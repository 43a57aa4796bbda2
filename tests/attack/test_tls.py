"""Native TLS: stock boto3 and the AWS CLI over HTTPS with a test CA, aws:SecureTransport
from the real transport, certificate reload on SIGHUP, no protocol below TLS 1.2, and a
graceful stop that an SDK's idle connection does not hold up."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from serverproc import TesseraServer, new_data_dir

AWS_CLI = str(Path(sys.executable).with_name("aws"))
NOW = dt.datetime.now(dt.UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class LocalCA:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name("Tessera Test CA"))
            .issuer_name(_name("Tessera Test CA"))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, common_name: str) -> tuple[Path, Path, x509.Certificate]:
        """A server certificate for 127.0.0.1/localhost, written to server.pem/server.key."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=7))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
            )
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        cert_file, key_file = self.directory / "server.pem", self.directory / "server.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        return cert_file, key_file, cert


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    return LocalCA(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def https_target(ca: LocalCA) -> Iterator[TesseraServer]:
    cert_file, key_file, _ = ca.issue("tessera-one")
    data_dir = new_data_dir()
    server = TesseraServer(
        data_dir=data_dir, ca_file=str(ca.ca_file), extra_args=["--tls-cert", str(cert_file), "--tls-key", str(key_file)]
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def presented_certificate(server: TesseraServer, context: ssl.SSLContext | None = None) -> x509.Certificate:
    context = context or ssl.create_default_context(cafile=server.ca_file)
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock,
        context.wrap_socket(sock, server_hostname="127.0.0.1") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def secure_only_policy() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"},
            {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        ],
    }


def test_boto3_over_https_with_the_test_ca(https_target: TesseraServer) -> None:
    assert https_target.endpoint.startswith("https://")
    assert https_target.client("sts").get_caller_identity()["Account"] == https_target.account_id
    key = https_target.client("iam").create_access_key()["AccessKey"]  # a secret that must not cross in clear
    assert key["SecretAccessKey"]


def test_secure_transport_is_true_over_tls(https_target: TesseraServer) -> None:
    creds = https_target.make_user("tls-only", secure_only_policy())
    assert "Users" in https_target.client("iam", creds).list_users()


def test_secure_transport_is_false_over_plain_http(target: TesseraServer) -> None:
    creds = target.make_user("tls-only", secure_only_policy())
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as denied:
        target.client("iam", creds).list_users()
    assert denied.value.response["Error"]["Code"] == "AccessDenied"


def test_the_aws_cli_over_https_with_a_ca_bundle(https_target: TesseraServer) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=https_target.root.access_key_id,
        AWS_SECRET_ACCESS_KEY=https_target.root.secret_access_key,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    out = subprocess.run(
        [
            AWS_CLI,
            "sts",
            "get-caller-identity",
            "--endpoint-url",
            https_target.endpoint,
            "--ca-bundle",
            str(https_target.ca_file),
            "--output",
            "json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Account"] == https_target.account_id


def test_plain_http_to_the_tls_port_gets_nothing_useful(https_target: TesseraServer) -> None:
    with socket.create_connection(("127.0.0.1", https_target.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            reply = sock.recv(1024)
        except ConnectionResetError:
            reply = b""
    assert b'"ok"' not in reply


def test_tls_1_1_is_refused_and_1_2_accepted(https_target: TesseraServer) -> None:
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(https_target.ca_file)
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client offer TLS 1.1 at all
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError) as refused:
        presented_certificate(https_target, old)
    # the server hung up on (or alerted) the TLS 1.1 hello: the client did offer it
    assert "NO_PROTOCOLS_AVAILABLE" not in str(refused.value).upper(), refused.value
    tls12 = ssl.create_default_context(cafile=https_target.ca_file)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    assert presented_certificate(https_target, tls12) is not None


@contextmanager
def tls_server(ca: LocalCA, cert_file: Path, key_file: Path) -> Iterator[TesseraServer]:
    """A server of its own on a fresh data directory, serving ``cert_file``'s pair."""
    data_dir = new_data_dir()
    server = TesseraServer(
        data_dir=data_dir, ca_file=str(ca.ca_file), extra_args=["--tls-cert", str(cert_file), "--tls-key", str(key_file)]
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def test_sighup_reloads_the_certificate_without_closing_the_listener(ca: LocalCA) -> None:
    cert_file, key_file, first = ca.issue("before-reload")
    with tls_server(ca, cert_file, key_file) as server:
        kept = server.client("sts")
        assert kept.get_caller_identity()["Account"] == server.account_id  # a connection opened before
        assert presented_certificate(server).serial_number == first.serial_number
        _, _, second = ca.issue("after-reload")  # same paths, new pair
        assert server.process is not None
        server.process.send_signal(signal.SIGHUP)
        wait_for_log(server, "TLS certificate reloaded")
        assert presented_certificate(server).serial_number == second.serial_number
        assert kept.get_caller_identity()["Account"] == server.account_id
        # a broken pair is refused and the current one stays in use
        key_file.write_text("not a key")
        server.process.send_signal(signal.SIGHUP)
        wait_for_log(server, "TLS certificate not reloaded")
        assert presented_certificate(server).serial_number == second.serial_number
        assert server.process.poll() is None


def test_sigterm_stops_at_once_with_an_sdks_idle_tls_connection_open(ca: LocalCA) -> None:
    """boto3 keeps its connection open after an answer and does not read it: a closing
    TLS connection waits for the peer's close_notify, which that one never sends. The
    stop must not wait for it (it waited 30 s, and a service manager then kills the
    process and the audit writer's queue with it)."""
    cert_file, key_file, _ = ca.issue("idle-at-stop")
    with tls_server(ca, cert_file, key_file) as server:
        idle = server.client("sts")
        request_id = idle.get_caller_identity()["ResponseMetadata"]["RequestId"]
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=15) == 0  # graceful (a killed server answers -9)
        server.process = None
        trail = subprocess.run(
            [sys.executable, "-m", "tessera", "audit", "--data-dir", server.data_dir, "--json", "--event-name", "GetCallerIdentity"],
            capture_output=True,
            text=True,
            env=server.environment(),
            check=True,
        ).stdout
        assert request_id in {json.loads(line)["requestID"] for line in trail.splitlines()}  # flushed at the stop


def wait_for_log(server: TesseraServer, text: str) -> None:
    """Until the server logs ``text`` (it handles the signal at once; this waits for it)."""
    deadline = time.monotonic() + 30
    while text not in server.log():
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)
