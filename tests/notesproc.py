"""Running the example notes service (examples/notes) under a real uvicorn process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serverproc import CLIENT_CONFIG, REGION, Credentials, free_port

from bench.load import model_client

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "notes"
MODELS = str(EXAMPLE / "models")


@dataclass
class NotesService:
    """``uvicorn --factory notes_service:create_app`` on a free loopback port."""

    tessera_endpoint: str
    account: str
    creds: Credentials  # the service's own Tessera credentials
    db_path: str
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    log_path: str = ""

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            TESSERA_ENDPOINT=self.tessera_endpoint,
            NOTES_ACCOUNT=self.account,
            NOTES_REGION=REGION,
            NOTES_DB=self.db_path,
            AWS_ACCESS_KEY_ID=self.creds.access_key_id,
            AWS_SECRET_ACCESS_KEY=self.creds.secret_access_key,
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            AWS_EC2_METADATA_DISABLED="true",
        )
        return env

    def start(self) -> NotesService:
        self.port = free_port()
        self.log_path = f"{self.db_path}.{self.port}.log"
        command = [sys.executable, "-m", "uvicorn", "--factory", "notes_service:create_app", "--app-dir", str(EXAMPLE)]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--no-access-log"]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, env=self.environment(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the notes service exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/healthz", timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"the notes service did not become ready:\n{self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        try:
            return Path(self.log_path).read_text(encoding="utf-8", errors="replace")[-20000:]
        except OSError:
            return ""

    def client(self, creds: Credentials) -> Any:
        """A stock boto3 client of the example's model (``AWS_DATA_PATH`` read by a fresh session)."""
        return model_client(
            "notes",
            MODELS,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token,
            config=CLIENT_CONFIG,
        )
