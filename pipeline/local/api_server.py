"""`pipeline api`: serve the API handler and the web page on 127.0.0.1, as API Gateway would call the Lambda."""

from __future__ import annotations

import logging
import mimetypes
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pipeline.http_api import Api

log = logging.getLogger(__name__)
WEB = Path(__file__).resolve().parent.parent / "web"
MAX_BODY = 64 * 1024  # the API takes small JSON bodies; images go straight to S3


def to_event(method: str, target: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event for one HTTP request."""
    parts = urlsplit(target)
    query = dict(parse_qsl(parts.query))
    return {
        "version": "2.0",
        "routeKey": f"{method} {parts.path}",
        "rawPath": parts.path,
        "rawQueryString": parts.query,
        "headers": {k.lower(): v for k, v in headers.items()},
        "queryStringParameters": query or None,
        "requestContext": {
            "http": {"method": method, "path": parts.path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": uuid.uuid4().hex,
            "stage": "$default",
            "timeEpoch": int(time.time() * 1000),
        },
        "body": body.decode("utf-8", "replace") if body else None,
        "isBase64Encoded": False,
    }


class _Handler(BaseHTTPRequestHandler):
    """Static files from pipeline/web at /, everything else through the API (`api` is set per server)."""

    server_version = "imgpipe-local-api"
    api: Api

    def log_message(self, fmt: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), fmt % args)

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _static(self) -> bool:
        path = urlsplit(self.path).path
        name = "index.html" if path == "/" else path.lstrip("/")
        file = (WEB / name).resolve()
        if "/" in name or not file.is_file() or file.parent != WEB:
            return False
        ctype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        self._send(200, {"Content-Type": ctype, "Cache-Control": "no-cache"}, file.read_bytes())
        return True

    def _api(self, method: str) -> None:
        raw_length = (self.headers.get("Content-Length") or "0").strip()
        if not raw_length.isdigit():
            # "abc" or "-1": answered, not dropped, and the connection closed (the body cannot be framed).
            self.close_connection = True
            self._send(400, {"Content-Type": "application/json"}, b'{"error": "bad Content-Length"}')
            return
        length = int(raw_length)
        if length > MAX_BODY:
            self._send(413, {"Content-Type": "application/json"}, b'{"error": "request body too large"}')
            return
        body = self.rfile.read(length) if length else b""
        resp = self.api.handle(to_event(method, self.path, dict(self.headers), body))  # type: ignore[arg-type]
        self._send(resp["statusCode"], resp["headers"], resp["body"].encode())

    def do_GET(self) -> None:
        if not self._static():
            self._api("GET")

    def do_POST(self) -> None:
        self._api("POST")


def make_server(api: Api, host: str = "127.0.0.1", port: int = 8080) -> ThreadingHTTPServer:
    """A threaded HTTP server: static files from pipeline/web at /, everything else through the API handler."""
    handler = type("Handler", (_Handler,), {"api": api})
    return ThreadingHTTPServer((host, port), handler)
