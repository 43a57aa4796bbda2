"""A TCP listener that accepts every connection and never answers: an identity provider
that ties up whoever fetches from it."""

from __future__ import annotations

import contextlib
import socket
import threading


class Tarpit:
    """A TCP listener that accepts every connection and never answers."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.accepted: list[socket.socket] = []
        self.connected = threading.Semaphore(0)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(conn)
            self.connected.release()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self.listener.close()
        for conn in self.accepted:
            conn.close()
        self._thread.join(timeout=10)
