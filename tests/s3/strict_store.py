"""A real S3-compatible server for the tests: moto's server over HTTP on 127.0.0.1, behind a small
strict layer of our own that behaves like Cloudflare R2 where moto is lenient, and that injects faults.

moto accepts what R2 rejects (it decodes ``aws-chunked`` bodies and never checks checksums), so the
layer in front:

- rejects ``aws-chunked`` bodies, ``STREAMING-*`` payload hashes and ``x-amz-checksum-*`` /
  ``x-amz-trailer`` headers with R2's ``501 NotImplemented``;
- rejects a multipart upload whose parts (all but the last) differ in size, as R2 does;
- on demand answers ``503 SlowDown``, drops the connection without an answer, truncates a response
  body, or is down altogether (every connection dropped);
- optionally speaks HTTPS (a ``trustme`` CA; botocore only takes its checksum-trailer path over HTTPS).

Used as a context manager: ``with StrictStore(tls=True) as store: store.endpoint, store.ca_pem``.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import ssl
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

NOT_IMPLEMENTED = (
    "<?xml version='1.0' encoding='UTF-8'?><Error><Code>NotImplemented</Code>"
    "<Message>Header '{header}' with value '{value}' not implemented</Message></Error>"
)
SLOW_DOWN = (
    "<?xml version='1.0' encoding='UTF-8'?><Error><Code>SlowDown</Code>"
    "<Message>Please reduce your request rate.</Message></Error>"
)
UNEQUAL_PARTS = (
    "<?xml version='1.0' encoding='UTF-8'?><Error><Code>InvalidPart</Code>"
    "<Message>All non-trailing parts must have the same length.</Message></Error>"
)
_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade", "expect"}


class StrictStore:
    def __init__(self, tls: bool = False, workdir: Path | None = None) -> None:
        self.tls, self.workdir = tls, workdir
        self.faults: list[str] = []  # "503", "drop", "truncate": one per coming request, in order
        self.down = False
        self.rejected: list[str] = []  # what the strict checks refused
        self.requests = 0
        self._parts: dict[str, dict[int, int]] = defaultdict(dict)
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------------------
    def __enter__(self) -> StrictStore:
        from moto.server import ThreadedMotoServer

        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        self.moto_port = self.moto._server.server_port
        store = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self):
                store._handle(self)

            do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if self.tls:
            import trustme

            ca = trustme.CA()
            cert = ca.issue_cert("127.0.0.1", "localhost")
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            cert.configure_cert(ctx)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            self.ca_pem = str((self.workdir or Path("/tmp")) / f"strict-store-ca-{id(self)}.pem")
            ca.cert_pem.write_to_path(self.ca_pem)
        else:
            self.ca_pem = None
        self.port = self.server.server_address[1]
        self.endpoint = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.moto.stop()

    @property
    def moto_endpoint(self) -> str:
        """moto itself, bypassing the strict layer (to damage an object behind the client's back)."""
        return f"http://127.0.0.1:{self.moto_port}"

    # -- one request ----------------------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.requests += 1
            fault = self.faults.pop(0) if self.faults else None
        if self.down or fault == "drop":
            _drop(h)
            return
        body = _read_body(h)
        if fault == "503":
            _reply(h, 503, SLOW_DOWN.encode(), {"Content-Type": "application/xml", "Retry-After": "0"})
            return
        refusal = self._refuse(h, body)
        if refusal:
            self.rejected.append(refusal[0])
            _reply(h, *refusal[1:])
            return
        status, headers, data = self._forward(h, body)
        if fault == "truncate" and len(data) > 1:
            _reply(h, status, data[: len(data) // 2], headers, declared=len(data))
            h.close_connection = True
            return
        _reply(h, status, data, headers)

    def _refuse(self, h, body: bytes):
        """What R2 would refuse, as (what, status, body, headers); None when R2 would accept it."""
        for name, value in h.headers.items():
            low = name.lower()
            if low.startswith("x-amz-checksum-") or low == "x-amz-trailer" or low == "x-amz-sdk-checksum-algorithm":
                return (
                    f"{name}: {value}",
                    501,
                    NOT_IMPLEMENTED.format(header=name, value=value).encode(),
                    {"Content-Type": "application/xml"},
                )
            if (low == "content-encoding" and "aws-chunked" in value) or (
                low == "x-amz-content-sha256" and value.startswith("STREAMING-")
            ):
                return (
                    f"{name}: {value}",
                    501,
                    NOT_IMPLEMENTED.format(header=name, value=value).encode(),
                    {"Content-Type": "application/xml"},
                )
        query = parse_qs(urlsplit(h.path).query, keep_blank_values=True)
        if h.command == "PUT" and "partNumber" in query and "uploadId" in query:
            with self._lock:
                self._parts[query["uploadId"][0]][int(query["partNumber"][0])] = len(body)
        if h.command == "POST" and "uploadId" in query:
            listed = [int(n) for n in re.findall(rb"<PartNumber>(\d+)</PartNumber>", body)]
            sizes = [self._parts[query["uploadId"][0]].get(n) for n in sorted(listed)]
            if len(set(sizes[:-1])) > 1 or (len(sizes) > 1 and sizes[-1] is not None and sizes[-1] > sizes[0]):
                return ("unequal parts", 400, UNEQUAL_PARTS.encode(), {"Content-Type": "application/xml"})
        return None

    def _forward(self, h, body: bytes):
        conn = http.client.HTTPConnection("127.0.0.1", self.moto_port, timeout=60)
        headers = {k: v for k, v in h.headers.items() if k.lower() not in _HOP}
        headers["Content-Length"] = str(len(body))
        conn.request(h.command, h.path, body=body if body or h.command in ("PUT", "POST") else None, headers=headers)
        r = conn.getresponse()
        data = r.read()
        out = {k: v for k, v in r.getheaders() if k.lower() not in _HOP}
        if h.command != "HEAD":  # a HEAD's Content-Length is the object's; otherwise it is the body's
            out.pop("Content-Length", None)
            out.pop("content-length", None)
        conn.close()
        return r.status, out, data


def _read_body(h) -> bytes:
    if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
        out = bytearray()
        while True:
            size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(out)
            out += h.rfile.read(size)
            h.rfile.readline()
    n = int(h.headers.get("Content-Length") or 0)
    return h.rfile.read(n) if n else b""


def _reply(h, status: int, data: bytes, headers: dict, declared: int | None = None) -> None:
    h.send_response(status)
    for k, v in headers.items():
        h.send_header(k, v)
    if not any(k.lower() == "content-length" for k in headers):
        h.send_header("Content-Length", str(declared if declared is not None else len(data)))
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(data)


def _drop(h) -> None:
    """Close the connection without an answer (a dropped connection, or a store that is down)."""
    with contextlib.suppress(OSError):
        h.connection.shutdown(socket.SHUT_RDWR)
    h.close_connection = True
