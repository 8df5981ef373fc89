#!/usr/bin/env python3
"""Ask the Licentric companion about this machine's licence — Python standard library only.

    python3 licentric_client.py [--socket PATH] [--product ID] status
    python3 licentric_client.py [--socket PATH] [--product ID] has_entitlement CODE
    python3 licentric_client.py [--socket PATH] [--product ID] watch

The protocol (docs/ipc.md): JSON-RPC 2.0, one JSON object per line, on a Unix socket at
$XDG_RUNTIME_DIR/licentric/<product_id>.sock. Errors carry a stable `error.data.code`.
"""
import argparse
import json
import os
import socket
import sys
import tempfile

PROTOCOL_VERSION = 1


class LicentricError(Exception):
    def __init__(self, error):
        super().__init__(error.get("message", "error"))
        self.code = (error.get("data") or {}).get("code")


class Client:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.file = self.sock.makefile("rwb")
        self.next_id = 1
        self.changes = []
        version = self.call("version")
        if version["protocol"] != PROTOCOL_VERSION:
            raise LicentricError({"message": f"the agent speaks protocol {version['protocol']}"})

    def call(self, method, params=None):
        request = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            request["params"] = params
        self.next_id += 1
        self.file.write(json.dumps(request).encode() + b"\n")
        self.file.flush()
        while True:
            message = self._read()
            if "method" in message:  # a status_changed notification
                self.changes.append(message.get("params"))
                continue
            if message.get("id") != request["id"]:
                continue
            if "error" in message:
                raise LicentricError(message["error"])
            return message["result"]

    def _read(self):
        line = self.file.readline(64 * 1024 + 1)
        if not line:
            raise LicentricError({"message": "the agent closed the connection"})
        return json.loads(line)

    def status(self):
        return self.call("status")

    def has_entitlement(self, code):
        return self.call("has_entitlement", {"code": code})["entitled"]

    def watch(self):
        yield self.call("subscribe")["status"]
        while True:
            while self.changes:
                yield self.changes.pop(0)
            message = self._read()
            if message.get("method") == "status_changed":
                yield message["params"]


def default_socket(product):
    if os.environ.get("LICENTRIC_SOCKET"):
        return os.environ["LICENTRIC_SOCKET"]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = os.path.join(runtime, "licentric") if runtime else os.path.join(tempfile.gettempdir(), f"licentric-{os.getuid()}")
    return os.path.join(base, f"{product}.sock")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket")
    parser.add_argument("--product", default="acme-cad")
    parser.add_argument("command", choices=["status", "has_entitlement", "watch"])
    parser.add_argument("code", nargs="?")
    args = parser.parse_args()
    try:
        client = Client(args.socket or default_socket(args.product))
    except OSError as e:
        print(f"the licensing agent is not running ({e})", file=sys.stderr)
        return 4
    try:
        if args.command == "status":
            status = client.status()
            print(f"state: {status['state']}, entitled: {str(status['entitled']).lower()}, entitlements: {', '.join(status['entitlements']) or '-'}")
            return 0 if status["entitled"] else 3
        if args.command == "has_entitlement":
            entitled = client.has_entitlement(args.code or "")
            print(f"{args.code}: entitled: {str(entitled).lower()}")
            return 0 if entitled else 3
        for status in client.watch():
            print(f"state: {status['state']}, entitled: {str(status['entitled']).lower()}", flush=True)
    except LicentricError as e:
        print(f"error [{e.code}]: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
