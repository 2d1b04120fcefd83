"""A metering reverse proxy for an OpenAI-compatible server (stdlib only, any venv can run it).

Both libraries in a side-by-side talk to the same upstream through this proxy, so their spend is
counted the same way: from the server's own ``usage`` fields, per request, whatever each library
believes it spent (promptolution's API LLM counts whitespace-separated words, we count the
server's usage). ``GET /meter`` returns the totals, ``GET /meter/log`` one record per request (arrival and
finish time, the messages as one text, token counts), ``POST /meter/reset``
zeroes both; everything else is forwarded to the upstream unchanged.

Run: python bench/versus/meter.py --upstream http://127.0.0.1:8080 [--port 0]
Prints ``READY http://127.0.0.1:PORT`` once listening.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Meter:
    """Totals of what went through the proxy; thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.errors = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.busy_s = 0.0  # summed upstream latency
        self.started = time.monotonic()
        self.log: list[dict] = []

    def enter(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self, usage: dict | None, seconds: float, ok: bool, record: dict | None = None) -> None:
        with self.lock:
            if record is not None:
                self.log.append(record)
            self.in_flight -= 1
            self.requests += 1
            self.busy_s += seconds
            if not ok:
                self.errors += 1
            if usage:
                self.prompt_tokens += int(usage.get("prompt_tokens") or 0)
                self.completion_tokens += int(usage.get("completion_tokens") or 0)

    def snapshot(self) -> dict:
        with self.lock:
            return {
                "requests": self.requests,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens,
                "errors": self.errors,
                "max_in_flight": self.max_in_flight,
                "busy_s": round(self.busy_s, 3),
                "since_reset_s": round(time.monotonic() - self.started, 3),
            }


def describe(body: bytes | None, usage: dict | None, start: float) -> dict:
    """One request: when, how big, and its messages flattened to one text (to see how much of
    it the previous request shared: llama.cpp reuses the previous request's prompt prefix)."""
    try:
        request = json.loads(body or b"{}")
        text = "\x1e".join(f"{m.get('role')}\x1f{m.get('content')}" for m in request.get("messages") or [])
        max_tokens = request.get("max_tokens")
    except (ValueError, AttributeError):
        text, max_tokens = "", None
    usage = usage or {}
    return {"start": start, "end": time.monotonic(), "text": text, "max_tokens": max_tokens,
            "prompt_tokens": usage.get("prompt_tokens"), "completion_tokens": usage.get("completion_tokens")}


def make_handler(upstream: str, meter: Meter) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/meter":
                self._reply(200, json.dumps(meter.snapshot()).encode())
                return
            if self.path == "/meter/log":
                with meter.lock:
                    self._reply(200, json.dumps(meter.log).encode())
                return
            self._forward(None)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path == "/meter/reset":
                meter.reset()
                self._reply(200, b"{}")
                return
            self._forward(body)

        def _forward(self, body: bytes | None) -> None:
            headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
            request = urllib.request.Request(
                upstream + self.path, data=body, headers=headers, method="POST" if body is not None else "GET"
            )
            counted = body is not None and self.path.endswith("/chat/completions")
            if counted:
                meter.enter()
            start = time.monotonic()
            status, payload, content_type = 502, b'{"error": "upstream unreachable"}', "application/json"
            try:
                with urllib.request.urlopen(request, timeout=600) as reply:
                    status, payload = reply.status, reply.read()
                    content_type = reply.headers.get("Content-Type", content_type)
            except urllib.error.HTTPError as exc:
                status, payload = exc.code, exc.read()
            except OSError as exc:
                payload = json.dumps({"error": f"upstream: {exc}"}).encode()
            if counted:
                usage = None
                try:
                    usage = json.loads(payload).get("usage")
                except (ValueError, AttributeError):
                    pass
                meter.leave(usage, time.monotonic() - start, status == 200, describe(body, usage, start))
            self._reply(status, payload, content_type)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="base URL without /v1, e.g. http://127.0.0.1:8080")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), make_handler(args.upstream.rstrip("/"), Meter()))
    server.daemon_threads = True
    print(f"READY http://{args.host}:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
