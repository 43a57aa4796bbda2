"""Measure how many MFA codes an attacker holding a user's access key can have checked per
second against a real server (not a test: run it by hand and report the numbers).

    .venv/bin/python -m bench.mfa_guessing [seconds] [threads]

It starts ``tessera serve`` on SQLite, enables a virtual MFA device for a user and sends
wrong TokenCodes through GetSessionToken for a bounded time. "checked" counts answers
that looked at the code (AccessDenied); "throttled" those refused before it."""

from __future__ import annotations

import collections
import os
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))

import pyotp
from botocore.config import Config
from botocore.exceptions import ClientError
from serverproc import TesseraServer, new_data_dir


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    data_dir = new_data_dir()
    server = TesseraServer(data_dir=data_dir).start()
    try:
        creds = server.make_user("victim")
        iam = server.client("iam")
        device = iam.create_virtual_mfa_device(VirtualMFADeviceName="victim-mfa")["VirtualMFADevice"]
        totp = pyotp.TOTP(device["Base32StringSeed"].decode())
        now = int(time.time())
        serial = device["SerialNumber"]
        iam.enable_mfa_device(
            UserName="victim", SerialNumber=serial, AuthenticationCode1=totp.at(now - 60), AuthenticationCode2=totp.at(now - 30)
        )
        counts: collections.Counter[str] = collections.Counter()
        lock = threading.Lock()
        deadline = time.monotonic() + seconds

        def attack(offset: int) -> None:
            sts = server.client("sts", creds, config=Config(retries={"total_max_attempts": 1}))
            n = offset
            while time.monotonic() < deadline:
                n += threads
                try:
                    sts.get_session_token(SerialNumber=serial, TokenCode=f"{n % 1_000_000:06d}")
                    outcome = "accepted"
                except ClientError as error:
                    outcome = str(error.response["Error"]["Code"])
                with lock:
                    counts[outcome] += 1

        workers = [threading.Thread(target=attack, args=(i,)) for i in range(threads)]
        started = time.monotonic()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.monotonic() - started
        checked = counts["AccessDenied"] + counts["accepted"]
        print(
            f"{elapsed:.1f} s, {threads} threads: {sum(counts.values())} requests "
            f"({sum(counts.values()) / elapsed:.0f}/s), codes checked {checked} ({checked / elapsed:.1f}/s), "
            f"outcomes {dict(counts)}"
        )
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
