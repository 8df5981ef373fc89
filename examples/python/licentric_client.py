#!/usr/bin/env python3
"""Ask the Licentric companion about this machine's licence — Python standard library only.

    python3 licentric_client.py [--socket PATH] [--product ID] [--environment live|test] status
    python3 licentric_client.py [--socket PATH] [--product ID] [--environment live|test] has_entitlement CODE
    python3 licentric_client.py [--socket PATH] [--product ID] [--environment live|test] watch

For an app that checks on every action, `Watcher` answers from memory what the agent last
pushed (and False whenever it cannot reach the agent). With a floating licence, an app holds
a seat while it runs (docs/floating.md):

    with Client(default_socket("acme-cad"), "acme-cad", "live").checkout("pro") as seat:
        ...  # the seat is this app's until the block ends (or the app dies)

The protocol (docs/ipc.md): JSON-RPC 2.0, one JSON object per line, on a Unix socket at
$XDG_RUNTIME_DIR/licentric/<product_id>-<environment>.sock. Errors carry a stable
`error.data.code`.

Before sending anything, the client checks that the socket is its own user's (DESIGN §5): the
socket's folder must be a real folder owned by this user with mode 0700, and the process
listening must run as this user (SO_PEERCRED, on Linux). Another user who made the folder
first, or listens in its place, gets nothing.
"""
import argparse
import json
import os
import socket
import stat
import struct
import sys
import tempfile
import threading
import time
from datetime import datetime

PROTOCOL_VERSION = 1
# How long a query may wait for its answer, and a management call (seconds). An agent that
# does not answer in time is treated as "not entitled", never as "entitled".
QUERY_TIMEOUT = 5.0
MANAGEMENT_TIMEOUT = 60.0
MANAGEMENT = {"activate", "deactivate", "refresh", "import_license_file", "request_file"}
MAX_LINE = 64 * 1024
MAX_PENDING_CHANGES = 16


class LicentricError(Exception):
    def __init__(self, error):
        super().__init__(error.get("message", "error"))
        self.code = (error.get("data") or {}).get("code")


class NotRunning(Exception):
    """No agent listens at the socket."""


class UnsafeEndpoint(LicentricError):
    """The socket failed the checks of DESIGN §5: nothing was sent to it."""

    def __init__(self, code, message):
        super().__init__({"message": f"refusing the licensing agent's socket: {message}", "data": {"code": code}})


def check_folder(path):
    """The socket's folder must be a real folder of this user's with no access for others."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        st = os.lstat(folder)
    except FileNotFoundError:
        raise NotRunning(f"no agent is listening at {path}")
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeEndpoint("endpoint_not_a_folder", f"{folder} is not a folder")
    if st.st_uid != os.getuid():
        raise UnsafeEndpoint("endpoint_not_owned", f"{folder} belongs to user {st.st_uid}, not to you")
    if st.st_mode & 0o077:
        raise UnsafeEndpoint("endpoint_open_to_others", f"{folder} is open to other users (mode {st.st_mode & 0o777:o})")


def check_peer(sock, path):
    """The listening process must run as this user (Linux; elsewhere the folder check stands alone)."""
    if not hasattr(socket, "SO_PEERCRED"):
        return
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    if uid != os.getuid():
        raise UnsafeEndpoint("endpoint_foreign_peer", f"the program listening at {path} runs as user {uid}, not as you")


class Client:
    def __init__(self, path, product=None, environment=None, timeout=None):
        """Connects to the agent at `path`; with `product` and `environment`, refuses an agent
        that serves another (a sandbox agent where the live one should be)."""
        check_folder(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(path)
        except OSError as e:
            self.sock.close()
            raise NotRunning(f"no agent is listening at {path} ({e})")
        try:
            check_peer(self.sock, path)
        except UnsafeEndpoint:
            self.sock.close()
            raise
        # A reader of its own: a read-write pair's readline ignores its size limit.
        self.file = self.sock.makefile("rb")
        self.next_id = 1
        self.changes = []
        self.timeout = timeout
        version = self.call("version")
        if version["protocol"] != PROTOCOL_VERSION:
            raise LicentricError({"message": f"the agent speaks protocol {version['protocol']}"})
        if product is not None and (version.get("product_id") != product or version.get("environment") != environment):
            raise LicentricError({
                "message": f"the agent at this socket serves {version.get('product_id')} ({version.get('environment')}), not {product} ({environment})",
                "data": {"code": "wrong_agent"},
            })

    def call(self, method, params=None):
        request = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            request["params"] = params
        self.next_id += 1
        limit = self.timeout or (MANAGEMENT_TIMEOUT if method in MANAGEMENT else QUERY_TIMEOUT)
        deadline = time.monotonic() + limit
        try:
            self.sock.settimeout(limit)
            self.sock.sendall(json.dumps(request).encode() + b"\n")
        except OSError as e:
            raise LicentricError({"message": f"cannot reach the agent ({e})", "data": {"code": "io_error"}})
        # Until the answer to this request, or the deadline: notifications and answers to other
        # ids do not extend it.
        while True:
            message = self._read(deadline)
            if "method" in message:  # a status_changed notification
                self.changes.append(message.get("params"))
                del self.changes[:-MAX_PENDING_CHANGES]
                continue
            if message.get("id") != request["id"]:
                continue
            if "error" in message:
                raise LicentricError(message["error"] if isinstance(message["error"], dict) else {})
            if "result" not in message:
                raise LicentricError({"message": "a malformed answer", "data": {"code": "malformed_answer"}})
            return message["result"]

    def _read(self, deadline=None):
        """One message; a time-out, a cut or malformed line, or a closed connection is an error
        (the caller answers "not entitled"), never a crash."""
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LicentricError({"message": "the agent did not answer in time", "data": {"code": "timeout"}})
            self.sock.settimeout(left)
        else:
            self.sock.settimeout(None)
        try:
            line = self.file.readline(MAX_LINE + 1)
        except socket.timeout:
            raise LicentricError({"message": "the agent did not answer in time", "data": {"code": "timeout"}})
        except OSError as e:
            raise LicentricError({"message": f"the connection failed ({e})", "data": {"code": "io_error"}})
        if not line:
            raise LicentricError({"message": "the agent closed the connection", "data": {"code": "io_error"}})
        if not line.endswith(b"\n"):
            raise LicentricError({"message": "a cut or over-long answer", "data": {"code": "malformed_answer"}})
        try:
            message = json.loads(line)
        except ValueError:
            raise LicentricError({"message": "a malformed answer", "data": {"code": "malformed_answer"}})
        if not isinstance(message, dict):
            raise LicentricError({"message": "a malformed answer", "data": {"code": "malformed_answer"}})
        return message

    def status(self):
        return self.call("status")

    def close(self):
        self.file.close()
        self.sock.close()

    def has_entitlement(self, code):
        """True only if the agent says so, plainly: anything else is False or an error."""
        result = self.call("has_entitlement", {"code": code})
        return isinstance(result, dict) and result.get("entitled") is True

    def checkout(self, entitlement=None):
        """A seat of a floating licence, held while this connection stays open: a `Seat`, a
        context manager that gives it back and closes the connection when the block ends. If
        the app dies, its connection closes and the agent gives the seat back at once. Every
        seat held raises LicentricError with code `server_rejected` (reason
        `no_seat_available`)."""
        params = {} if entitlement is None else {"entitlement": entitlement}
        return Seat(self, self.call("checkout", params))

    def release(self):
        """Gives this connection's seat back (on the server, when it was the agent's last)."""
        return self.call("release").get("released") is True

    def watch(self):
        yield self.call("subscribe")["status"]
        while True:
            while self.changes:
                yield self.changes.pop(0)
            message = self._read(None if self.timeout is None else time.monotonic() + self.timeout)
            if message.get("method") == "status_changed":
                yield message["params"]


class Seat:
    """A held seat of a floating licence (see `Client.checkout`): `expires_at`,
    `seats_in_use`, `max_seats`, `entitlements`. As a context manager it gives the seat back
    and closes the connection on exit."""

    def __init__(self, client, info):
        self.client = client
        self.expires_at = info.get("expires_at")
        self.seats_in_use = info.get("seats_in_use")
        self.max_seats = info.get("max_seats")
        self.entitlements = list(info.get("entitlements") or [])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            self.client.release()
        except LicentricError:
            pass  # the connection closing gives it back all the same
        finally:
            self.client.close()
        return False


class Watcher:
    """Answers from memory: connects once, subscribes, keeps the last status the agent pushed,
    and answers is_entitled() / has_entitlement(code) without asking the agent. A background
    thread applies every push, asks for the status when the agent has been quiet for
    `heartbeat` seconds, and reconnects with back-off when the agent restarts. While it cannot
    reach the agent every answer is False — never a stale True — and even a current True ends
    with the offline period or the licence, by this machine's clock.

        licence = Watcher(default_socket("acme-cad"), "acme-cad", "live")
        if licence.has_entitlement("export-pdf"): ...
    """

    def __init__(self, path, product, environment, heartbeat=30.0):
        self._path, self._product, self._environment = path, product, environment
        self._heartbeat = heartbeat
        self._lock = threading.Condition()
        self._status = None  # None: unknown
        self._reason = "not connected yet"
        self._generation = 0
        self._client = None
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="licentric-watch", daemon=True)
        self._thread.start()

    def is_entitled(self):
        status = self._status  # one read of a reference: no lock needed
        return status is not None and status.get("entitled") is True and time.time() < _ends(status)

    def has_entitlement(self, code):
        status = self._status
        return self.is_entitled() and status is not None and code in (status.get("entitlements") or [])

    def status(self):
        """The last status, or None while the agent cannot be reached (see reason())."""
        return self._status

    def reason(self):
        return self._reason

    def wait_for_change(self, generation, timeout):
        """Waits until the view changes after `generation`; returns the generation then."""
        with self._lock:
            self._lock.wait_for(lambda: self._generation > generation or self._stopped, timeout)
            return self._generation

    def generation(self):
        return self._generation

    def close(self):
        with self._lock:
            self._stopped = True
            client = self._client
            self._lock.notify_all()
        if client is not None:
            try:
                client.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join()

    def _set(self, status, reason=None):
        with self._lock:
            if status == self._status and reason == self._reason:
                return
            self._status, self._reason = status, reason
            self._generation += 1
            self._lock.notify_all()

    def _run(self):
        backoff = 0.05
        while not self._stopped:
            client = None
            try:
                client = Client(self._path, self._product, self._environment)
                with self._lock:
                    self._client = client
                backoff = 0.05
                self._follow(client)
            except Exception as e:  # any doubt, malformed answers included, is "unknown": no
                self._set(None, str(e) or type(e).__name__)
                backoff = min(backoff * 2, 5.0)
            finally:
                if client is not None:
                    client.close()
            with self._lock:
                self._client = None
                self._lock.wait_for(lambda: self._stopped, backoff)

    def _follow(self, client):
        status = client.call("subscribe")["status"]
        while not self._stopped:
            self._set(status if isinstance(status, dict) else None, None)
            if client.changes:
                status = client.changes.pop(0)
                continue
            try:
                message = client._read(time.monotonic() + self._heartbeat)
            except LicentricError as e:
                if e.code != "timeout":
                    raise
                status = client.call("status")  # quiet for a while: ask, or stop believing
                continue
            if message.get("method") == "status_changed":
                status = message.get("params")


def _ends(status):
    """The earlier of the offline period's end and the licence's (Unix seconds)."""
    ends = []
    for key in ("offline_valid_until", "license_expires_at"):
        text = status.get(key)
        if isinstance(text, str):
            try:
                ends.append(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
            except ValueError:
                return 0.0  # an end that cannot be read is no licence
    return min(ends) if ends else float("inf")


def default_socket(product, environment="live"):
    if os.environ.get("LICENTRIC_SOCKET"):
        return os.environ["LICENTRIC_SOCKET"]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        base = os.path.join(runtime, "licentric")
    elif sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Caches/licentric")
    elif os.environ.get("HOME"):
        base = os.path.join(os.environ["HOME"], ".cache", "licentric")
    else:
        base = os.path.join(tempfile.gettempdir(), f"licentric-{os.getuid()}")
    return os.path.join(base, f"{product}-{environment}.sock")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket")
    parser.add_argument("--product", default="acme-cad")
    parser.add_argument("--environment", default="live", choices=["live", "test"])
    parser.add_argument("--timeout", type=float, help="seconds a call may wait (default: 5 for queries)")
    parser.add_argument("command", choices=["status", "has_entitlement", "watch"])
    parser.add_argument("code", nargs="?")
    args = parser.parse_args()
    try:
        client = Client(args.socket or default_socket(args.product, args.environment), args.product, args.environment, args.timeout)
    except NotRunning as e:
        print(f"the licensing agent is not running ({e})", file=sys.stderr)
        return 4
    except LicentricError as e:
        print(f"error [{e.code}]: {e}", file=sys.stderr)
        return 1
    try:
        if args.command == "status":
            status = client.status()
            if not isinstance(status, dict):
                raise LicentricError({"message": "a malformed answer", "data": {"code": "malformed_answer"}})
            entitled = status.get("entitled") is True
            entitlements = [e for e in status.get("entitlements") or [] if isinstance(e, str)]
            print(f"state: {status.get('state')}, entitled: {str(entitled).lower()}, entitlements: {', '.join(entitlements) or '-'}")
            return 0 if entitled else 3
        if args.command == "has_entitlement":
            entitled = client.has_entitlement(args.code or "")
            print(f"{args.code}: entitled: {str(entitled).lower()}")
            return 0 if entitled else 3
        for status in client.watch():
            status = status if isinstance(status, dict) else {}
            print(f"state: {status.get('state')}, entitled: {str(status.get('entitled') is True).lower()}", flush=True)
    except LicentricError as e:
        print(f"error [{e.code}]: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
