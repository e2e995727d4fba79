"""A TCP proxy in front of an HTTP server that cuts one response body short: the first read
of an object's first bytes (a GET whose request line names ``path_part``, not a ``?tagging``
GET, with no Range header or one from byte 0) gets ``after`` bytes of its response, then both
connections close. Everything else passes through untouched (bytes are
forwarded as they are, so SigV4 signatures over the Host header still match)."""

from __future__ import annotations

import contextlib
import socket
import threading

from s3common.running import StartStop


class CutProxy(StartStop):
    def __init__(self, upstream_port: int, path_part: str, after: int) -> None:
        self._upstream = ("127.0.0.1", upstream_port)
        self._needle = path_part.encode()
        self._after = after
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._lock = threading.Lock()
        self.cuts = 0  # bodies cut so far (at most one)
        self._stopped = threading.Event()

    def start(self) -> CutProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._upstream)
            armed = threading.Event()
            threading.Thread(
                target=self._requests, args=(client, upstream, armed), daemon=True
            ).start()
            threading.Thread(
                target=self._responses, args=(upstream, client, armed), daemon=True
            ).start()

    def _requests(self, src: socket.socket, dst: socket.socket, armed: threading.Event) -> None:
        """Client -> server; arms the cut when the awaited request goes by (requests on one
        connection are sequential, so the next response bytes are its answer)."""
        while data := _recv(src):
            if _reads_first_bytes(data.split(b"\r\n\r\n", 1)[0], self._needle):
                with self._lock:
                    if self.cuts == 0:
                        self.cuts = 1
                        armed.set()
            if not _send(dst, data):
                break
        _close(src, dst)

    def _responses(self, src: socket.socket, dst: socket.socket, armed: threading.Event) -> None:
        sent = 0
        while data := _recv(src):
            if armed.is_set():
                data = data[: max(0, self._after - sent)]
                sent += len(data)
                if data:
                    _send(dst, data)
                if sent >= self._after:
                    break
            elif not _send(dst, data):
                break
        _close(src, dst)


def _reads_first_bytes(head: bytes, needle: bytes) -> bool:
    line = head.split(b"\r\n", 1)[0]
    if not line.startswith(b"GET ") or needle not in line or b"tagging" in line:
        return False
    lowered = head.lower()
    return b"\r\nrange:" not in lowered or b"\r\nrange: bytes=0-" in lowered


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _send(sock: socket.socket, data: bytes) -> bool:
    try:
        sock.sendall(data)
        return True
    except OSError:
        return False


def _close(*socks: socket.socket) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
