"""A stand-in OTLP/HTTP collector for BENCH_OTEL=1: reads every POST /v1/traces, answers 200, keeps nothing.

Its log gets the number of exports and bytes at exit, so a run can show that spans did flow.
Usage: python otlp_sink.py PORT
"""
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

totals = {"exports": 0, "bytes": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, as a collector: the exporter reuses its connection

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        totals["exports"] += 1
        totals["bytes"] += len(body)
        self._answer(200, b"")

    def do_GET(self):
        self._answer(200 if self.path == "/healthz" else 404, b"ok")

    def _answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)

    def stop(*_):
        print(f"otlp-sink: {totals['exports']} exports, {totals['bytes']} bytes", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    server.serve_forever()


if __name__ == "__main__":
    main()
