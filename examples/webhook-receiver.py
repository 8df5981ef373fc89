#!/usr/bin/env python3
"""A Licentric webhook receiver with nothing but Python's standard library.

It checks every delivery the way the platform documents — hex HMAC-SHA256 of the raw body
with the webhook's secret, compared in constant time — and handles each event once by the id
inside the signed body (a delivery can be repeated, and a replay can carry any header).

    LICENTRIC_WEBHOOK_SECRET=whsec_... python3 examples/webhook-receiver.py [PORT]

It listens on 127.0.0.1 (default port 9000). Point a webhook at http://127.0.0.1:PORT/hook.
"""
import hashlib
import hmac
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = os.environ.get("LICENTRIC_WEBHOOK_SECRET", "")
SEEN = set()


def verify_webhook(payload: bytes, signature: str, secret: str) -> bool:
    expected = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature, expected)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - the name http.server expects
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        signature = self.headers.get("X-Licentric-Signature", "")
        if not SECRET or not verify_webhook(body, signature, SECRET):
            print("rejected a delivery with a missing or wrong signature", flush=True)
            self.send_response(401)
            self.end_headers()
            return
        event = json.loads(body)
        # The id inside the signed body, never the X-Licentric-Event-Id header: the signature
        # does not cover headers, so a replay could carry any header it likes.
        event_id = event["id"]
        if event_id in SEEN:
            print(f"duplicate {event_id}: already handled", flush=True)
        else:
            SEEN.add(event_id)
            print(f"signature ok  {event['type']:<20} {event_id}  {json.dumps(event['data'])}", flush=True)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):  # keep the output to the events
        pass


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
    if not SECRET:
        print("set LICENTRIC_WEBHOOK_SECRET to the secret returned when the webhook was created", file=sys.stderr)
    print(f"waiting for webhooks on http://127.0.0.1:{port}/hook", flush=True)
    HTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
