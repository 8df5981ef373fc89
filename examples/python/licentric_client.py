#!/usr/bin/env python3
"""Ask the Licentric companion about this machine's licence — Python standard library only (checking
the signed documents in the app: the `cryptography` package).

    python3 licentric_client.py [--socket PATH] [--product ID] [--environment live|test] status
    python3 licentric_client.py [--socket PATH] [--product ID] [--environment live|test] has_entitlement CODE
    python3 licentric_client.py [--socket PATH] [--product ID] [--environment live|test] watch

With `--trusted-key HEX` (the vendor's public key; repeatable), `status` and `has_entitlement`
answer from the signed licence file, checked here (below), not from the agent's word.

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

Against the machine's own user — who can run any program on their own socket — the socket's
answer is advisory. An app that must hold against its user gives its vendor's public keys and
checks the signed documents itself, with this machine's fingerprint computed here and its own
clock (docs/security.md); that needs the `cryptography` package for Ed25519:

    VENDOR_KEYS = ["dea53b80…"]  # 64 hex characters each, built into the app
    client = Client(default_socket("acme-cad"), "acme-cad", "live")
    licence = client.verified_license(VENDOR_KEYS)   # raises NotVerified, code says why
    if "pro" in licence["entitlements"]: ...
    with client.checkout("pro", trusted_keys=VENDOR_KEYS) as seat: ...  # the lease is checked
"""
import argparse
import base64
import functools
import hashlib
import hmac
import json
import os
import re
import socket
import stat
import struct
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone

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
        error = error if isinstance(error, dict) else {}
        message, data = error.get("message"), error.get("data")
        super().__init__(message if isinstance(message, str) else "error")
        code = data.get("code") if isinstance(data, dict) else None
        self.code = code if isinstance(code, str) else None


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


# Local verification of the signed documents (docs/license-file.md, docs/floating.md).
LICENSE_FILE = ("LICENTRIC LICENSE FILE", b"licentric.license-file.v1\n", 16 * 1024)
LEASE = ("LICENTRIC LEASE", b"licentric.lease.v1\n", 8 * 1024)
FUTURE_TOLERANCE = 300  # seconds `issued_at` may be ahead of this machine's clock
MAX_NAME_LEN = 128
MAX_NONCE_LEN = 128
MAX_ENTITLEMENTS = 256
FINGERPRINT_LABEL = b"licentric.fingerprint.v1:"
LICENSE_MEMBERS = {"license_id", "product_id", "environment", "machine_id", "fingerprint", "status",
                   "entitlements", "max_machines", "license_expires_at", "issued_at", "expires_at", "nonce"}
LEASE_MEMBERS = {"lease_id", "license_id", "product_id", "environment", "fingerprint", "entitlements",
                 "max_seats", "issued_at", "expires_at", "nonce"}
REFUSED_STATUS = {"suspended": "license_suspended", "revoked": "license_revoked", "expired": "license_expired"}
# Public keys of small order (and their other encodings, the sign bit aside): anything
# verifies under them, so they are never trusted (as ed25519-dalek's `is_weak`).
SMALL_ORDER_KEYS = {bytes.fromhex(k) for k in (
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
)}
RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(\.\d+)?(?:[Zz]|([+-])(\d\d):(\d\d))")


class NotVerified(LicentricError):
    """A signed document failed a check made here; `code` names the check (the Rust
    verifier's codes: `signature_invalid`, `fingerprint_mismatch`, `file_expired`, …)."""

    def __init__(self, code, message):
        super().__init__({"message": message, "data": {"code": code}})


def _b64url(text):
    if not isinstance(text, str) or not re.fullmatch(r"[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if base64.urlsafe_b64encode(raw).decode().rstrip("=") != text:
        raise ValueError("not canonical base64url")
    return raw


def _json(raw):
    """A JSON value from UTF-8 bytes, as strictly as the companion reads it: no other encoding,
    no byte-order mark, no member twice; anything else is ValueError."""
    def unique(pairs):
        if len({k for k, _ in pairs}) != len(pairs):
            raise ValueError("a member appears twice")
        return dict(pairs)
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=unique)
    except RecursionError:
        raise ValueError("nested too deep")


def _rfc3339(text):
    """An RFC 3339 time as Unix seconds, or None."""
    found = RFC3339.fullmatch(text) if isinstance(text, str) else None
    if found is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in found.groups()[:6])
    sign, off_h, off_m = found.group(8), found.group(9), found.group(10)
    offset = 0 if sign is None else (1 if sign == "+" else -1) * (int(off_h) * 3600 + int(off_m) * 60)
    try:
        # A leap second (:60) is the next second's start, as the companion reads it.
        base = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=timezone(timedelta(seconds=offset)))
    except ValueError:
        return None
    return base.timestamp() + (second == 60) + float(found.group(7) or 0)


def _dearmor(text, label):
    """The bytes armoured under `label`, read by the rules of docs/license-file.md."""
    stripped = text.strip(" \t\r\n")
    lines = [line[:-1] if line.endswith("\r") else line for line in stripped.split("\n")]
    if len(lines) < 2 or lines[0] != f"-----BEGIN {label}-----" or lines[-1] != f"-----END {label}-----":
        raise NotVerified("armor_invalid", f"the text is not a {label.lower()}")
    body = "".join(lines[1:-1])
    try:
        raw = base64.b64decode(body, validate=True)
    except ValueError:
        raise NotVerified("armor_invalid", "the armour's base64 is malformed")
    if base64.b64encode(raw).decode() != body:
        raise NotVerified("armor_invalid", "the armour's base64 is not canonical")
    return raw


def _instant(payload, name, optional=False):
    value = payload.get(name)
    if value is None and optional:
        return None
    seconds = _rfc3339(value)
    if seconds is None:
        raise NotVerified("payload_invalid", f"{name} is not an RFC 3339 time")
    return seconds


def _open(text, kind, trusted_keys):
    """Checks 1–5 of docs/license-file.md: armour, envelope, known key, signature, JSON object.
    Returns the payload (a dict) and its times read."""
    label, context, limit = kind
    too_big = NotVerified("armor_invalid", f"not a {label.lower()} of at most {limit} bytes")
    if not isinstance(text, str) or len(text) > limit:
        raise too_big
    try:
        if len(text.encode()) > limit:
            raise too_big
    except UnicodeError:
        raise NotVerified("armor_invalid", "the text is not Unicode")
    try:
        envelope = _json(_dearmor(text, label))
    except ValueError:
        raise NotVerified("envelope_invalid", "the envelope is not JSON")
    if not isinstance(envelope, dict) or set(envelope) != {"v", "alg", "kid", "payload", "sig"}:
        raise NotVerified("envelope_invalid", "the envelope's members are not v, alg, kid, payload, sig")
    if type(envelope["v"]) is not int or envelope["v"] != 1 or envelope["alg"] != "ed25519":
        raise NotVerified("envelope_invalid", "an unsupported version or algorithm")
    if not isinstance(envelope["kid"], str):
        raise NotVerified("envelope_invalid", "kid is not text")
    try:
        payload_bytes, signature = _b64url(envelope["payload"]), _b64url(envelope["sig"])
    except ValueError:
        raise NotVerified("envelope_invalid", "payload or sig is not base64url")
    if len(signature) != 64:
        raise NotVerified("envelope_invalid", "sig is not 64 bytes")
    key = _trusted_key(trusted_keys, envelope["kid"])
    try:
        key.verify(signature, context + payload_bytes)
    except Exception:
        raise NotVerified("signature_invalid", "the signature does not verify with the vendor's key")
    try:
        payload = _json(payload_bytes)
    except ValueError:
        raise NotVerified("payload_invalid", "the payload is not JSON")
    if not isinstance(payload, dict):
        raise NotVerified("payload_invalid", "the payload is not an object")
    return payload


def _trusted_key(trusted_keys, kid):
    """The trusted key `kid` names. Every key in the list must be one (64 hex characters, not
    of small order), as the companion's configuration requires."""
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        raise NotVerified("verify_unavailable", "checking signatures needs the `cryptography` package")
    keys = []
    for hex_key in trusted_keys:
        if not isinstance(hex_key, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", hex_key):
            raise NotVerified("bad_trusted_key", "a trusted key is not 64 hex characters")
        raw = bytes.fromhex(hex_key)
        if raw[:31] + bytes([raw[31] & 0x7F]) in SMALL_ORDER_KEYS:
            raise NotVerified("bad_trusted_key", "a trusted key is a weak (small-order) key")
        keys.append(raw)
    for raw in keys:
        if re.fullmatch(r"[0-9a-f]{16}", kid) and hmac.compare_digest(hashlib.sha256(raw).hexdigest()[:16], kid):
            try:
                return Ed25519PublicKey.from_public_bytes(raw)
            except ValueError:
                raise NotVerified("bad_trusted_key", "a trusted key is not an Ed25519 public key")
    raise NotVerified("unknown_key_id", "the document is signed by a key this app does not trust")


def _names(payload, *names, limit=MAX_NAME_LEN):
    for name in names:
        value = payload.get(name)
        if not isinstance(value, str) or not value or len(value.encode()) > limit:
            raise NotVerified("payload_invalid", f"{name} is empty, too long or not text")


def _entitlements(payload, limited=True):
    """A list of strings; a licence file's also at most 256, each 1–128 bytes."""
    values = payload.get("entitlements")
    if not isinstance(values, list) or not all(isinstance(e, str) for e in values) or limited and (
        len(values) > MAX_ENTITLEMENTS or not all(e and len(e.encode("utf-8", "surrogatepass")) <= MAX_NAME_LEN for e in values)
    ):
        raise NotVerified("payload_invalid", "entitlements are malformed")


def _count(payload, name, bits=32):
    value = payload.get(name)
    if type(value) is not int or not 0 <= value < 2**bits:
        raise NotVerified("payload_invalid", f"{name} is not a count")


def _only_not_verified(check):
    """`check`, any failure of its own on input it was not written for a NotVerified too: an app
    that asks whether it is licensed gets "no" and why, never another exception."""
    @functools.wraps(check)
    def checked(*args, **kwargs):
        try:
            return check(*args, **kwargs)
        except NotVerified:
            raise
        except Exception as e:
            raise NotVerified("document_invalid", f"the document cannot be checked ({type(e).__name__})") from e
    return checked


def _period(payload):
    """The document's `issued_at` and `expires_at` (Unix seconds), the second after the first."""
    issued_at, expires_at = _instant(payload, "issued_at"), _instant(payload, "expires_at")
    if expires_at <= issued_at:
        raise NotVerified("payload_invalid", "expires_at is not after issued_at")
    return issued_at, expires_at


def _bound(payload, issued_at, product, environment, fingerprint, now):
    """Checks 6–10: this product, this environment, this machine, not issued in the future."""
    if payload["product_id"] != product:
        raise NotVerified("product_mismatch", f"the document is for product {payload['product_id']!r}, not {product!r}")
    if payload["environment"] != environment:
        raise NotVerified("environment_mismatch", f"the document is for the {payload['environment']} environment, not {environment}")
    if not hmac.compare_digest(payload["fingerprint"].encode(), fingerprint.encode()):
        raise NotVerified("fingerprint_mismatch", "the document is bound to another machine")
    if issued_at > now + FUTURE_TOLERANCE:
        raise NotVerified("issued_in_future", "the document was issued ahead of this machine's clock")


@_only_not_verified
def verify_license_file(text, trusted_keys, product, environment, fingerprint=None, now=None):
    """Verifies a licence file as the companion does (checks 1–11, 13 and 14 of
    docs/license-file.md; the clock guard is the agent's): signed by one of `trusted_keys`,
    for `product` in `environment`, bound to this machine (`fingerprint`, computed here by
    default), within its offline period and active by this process's clock. Returns the
    payload; raises NotVerified."""
    fingerprint = machine_fingerprint(product, environment) if fingerprint is None else fingerprint
    now = time.time() if now is None else now
    payload = _open(text, LICENSE_FILE, trusted_keys)
    if not LICENSE_MEMBERS - {"nonce"} <= set(payload) <= LICENSE_MEMBERS | {"check_interval"}:
        raise NotVerified("payload_invalid", "the payload's members are not a licence file's")
    payload.setdefault("nonce", None)
    _names(payload, "license_id", "machine_id")
    if not isinstance(payload["product_id"], str):
        raise NotVerified("payload_invalid", "product_id is not text")
    if not isinstance(payload["fingerprint"], str) or not re.fullmatch(r"[0-9a-f]{64}", payload["fingerprint"]):
        raise NotVerified("payload_invalid", "fingerprint is not 64 lower-case hex characters")
    if payload["environment"] not in ("test", "live") or payload["status"] not in ("active", *REFUSED_STATUS):
        raise NotVerified("payload_invalid", "environment or status is not a known value")
    _entitlements(payload)
    _count(payload, "max_machines")
    if payload.get("check_interval") is not None:
        _count(payload, "check_interval", bits=64)
    if payload["nonce"] is not None:
        _names(payload, "nonce", limit=MAX_NONCE_LEN)
    issued_at, expires_at = _period(payload)
    license_expires_at = _instant(payload, "license_expires_at", optional=True)
    _bound(payload, issued_at, product, environment, fingerprint, now)
    if now >= expires_at:
        raise NotVerified("file_expired", f"the offline period ended at {payload['expires_at']}")
    if payload["status"] != "active":
        raise NotVerified(REFUSED_STATUS[payload["status"]], f"the licence is {payload['status']}")
    if license_expires_at is not None and now >= license_expires_at:
        raise NotVerified("license_expiry_reached", f"the licence ended at {payload['license_expires_at']}")
    return payload


@_only_not_verified
def verify_lease(text, trusted_keys, product, environment, fingerprint=None, now=None):
    """Verifies a floating licence's seat (the `lease_file` a checkout answers) as
    `licentric_client::verify::check_lease` does: signed by one of `trusted_keys`, for
    `product` in `environment`, bound to this machine, not run out by this process's clock.
    Returns the payload; raises NotVerified."""
    fingerprint = machine_fingerprint(product, environment) if fingerprint is None else fingerprint
    now = time.time() if now is None else now
    payload = _open(text, LEASE, trusted_keys)
    if not LEASE_MEMBERS <= set(payload) <= LEASE_MEMBERS | {"label", "borrowed", "per_process", "kept_to_end"}:
        raise NotVerified("payload_invalid", "the payload's members are not a lease's")
    _names(payload, "lease_id", "license_id")
    _names(payload, "nonce", limit=MAX_NONCE_LEN)
    if not all(isinstance(payload[n], str) for n in ("product_id", "fingerprint")) or payload["environment"] not in ("test", "live"):
        raise NotVerified("payload_invalid", "product_id, fingerprint or environment is malformed")
    if not isinstance(payload.get("label", ""), (str, type(None))):
        raise NotVerified("payload_invalid", "label is not text")
    if not all(isinstance(payload.get(flag, False), bool) for flag in ("borrowed", "per_process", "kept_to_end")):
        raise NotVerified("payload_invalid", "a flag is not true or false")
    _entitlements(payload, limited=False)
    _count(payload, "max_seats")
    issued_at, expires_at = _period(payload)
    _bound(payload, issued_at, product, environment, fingerprint, now)
    if now >= expires_at:
        raise NotVerified("file_expired", f"the seat ran out at {payload['expires_at']}")
    return payload


MACHINE_ID_PATHS = ("/etc/machine-id", "/var/lib/dbus/machine-id")
HOST_ID_PATH = "/etc/licentric/host-id"


def machine_fingerprint(product, environment):
    """This machine's fingerprint for `product` (docs/fingerprint.md), computed here:
    hex(HMAC-SHA256(key = the machine id, msg = "licentric.fingerprint.v1:" + product)).
    `LICENTRIC_MACHINE_ID` replaces the machine id in the test environment only."""
    machine_id = None
    if environment == "test" and os.environ.get("LICENTRIC_MACHINE_ID"):
        machine_id = _machine_id_text(os.environ["LICENTRIC_MACHINE_ID"])
    if machine_id is None:
        try:
            machine_id = _platform_machine_id()
        except (OSError, ValueError, UnicodeError) as e:
            raise NotVerified("machine_id_unavailable", f"this machine's id cannot be read ({e})")
    if machine_id is None:
        raise NotVerified("machine_id_unavailable", "this machine's id cannot be read")
    return hmac.new(machine_id.encode(), FINGERPRINT_LABEL + product.encode(), hashlib.sha256).hexdigest()


def _machine_id_text(text):
    """Trimmed and lower-cased, as the companion reads it; None if it is not a machine id."""
    value = text.strip().lower()
    if 0 < len(value) <= 256 and re.fullmatch(r"[0-9a-z{}-]+", value) and re.search(r"[1-9a-z]", value):
        return value
    return None


def _read_text(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read(4096)
    except (OSError, ValueError):
        return None


def _platform_machine_id():
    if sys.platform == "darwin":
        import subprocess
        out = subprocess.run(["/usr/sbin/ioreg", "-rd1", "-c", "IOPlatformExpertDevice"], capture_output=True, text=True).stdout
        found = re.search(r'"IOPlatformUUID"\s*=\s*"([^"]+)"', out)
        return _machine_id_text(found.group(1)) if found else None
    if sys.platform == "win32":
        import winreg
        flags = winreg.KEY_READ | winreg.KEY_WOW64_64KEY
        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"SOFTWARE\Microsoft\Cryptography", 0, flags) as key:
            return _machine_id_text(winreg.QueryValueEx(key, "MachineGuid")[0])
    if _in_container():
        try:
            st = os.stat(HOST_ID_PATH)
            if stat.S_ISREG(st.st_mode) and st.st_uid == 0 and not st.st_mode & 0o022:
                host = _machine_id_text(_read_text(HOST_ID_PATH) or "")
                if host is not None:
                    return host
        except OSError:
            pass
    for path in MACHINE_ID_PATHS:
        found = _machine_id_text(_read_text(path) or "")
        if found is not None:
            return found
    return None


def _in_container():
    """As the companion decides it (crates/licentric-platform, `virtualization`)."""
    if os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv"):
        return True
    try:
        with open("/proc/1/environ", "rb") as f:
            if any(v.startswith(b"container=") and len(v) > 10 for v in f.read().split(b"\0")):
                return True
    except OSError:
        pass
    cgroup = _read_text("/proc/1/cgroup") or ""
    return any(mark in cgroup for mark in ("kubepods", "docker", "lxc"))


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
        self.product, self.environment = product, environment
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

    def license_file(self):
        """The signed licence file the agent holds (text), or None."""
        result = self.call("license_file")
        text = result.get("license_file") if isinstance(result, dict) else None
        return text if isinstance(text, str) else None

    def verified_license(self, trusted_keys, entitlement=None):
        """The agent's licence file, checked here (`verify_license_file`): its payload, or
        NotVerified. With `entitlement`, the file must grant it too (code `not_entitled`); and
        the agent must count the machine as entitled (code `agent_not_entitled`)."""
        if self.product is None:
            raise ValueError("checking a signed document needs the client's product and environment")
        text = self.license_file()
        if text is None:
            raise NotVerified("no_license_file", "the agent holds no licence file")
        payload = verify_license_file(text, trusted_keys, self.product, self.environment)
        if entitlement is not None and entitlement not in payload["entitlements"]:
            raise NotVerified("not_entitled", f"the licence does not grant {entitlement!r}")
        # And the agent must count the machine as entitled: a genuine file it no longer vouches
        # for (a copy put back, the clock turned back) passes the checks above.
        status = self.status()
        if not (isinstance(status, dict) and status.get("entitled") is True):
            said = status if isinstance(status, dict) else {}
            raise NotVerified("agent_not_entitled",
                              f"the agent does not count this machine as entitled: {said.get('state')} ({said.get('reason')})")
        return payload

    def checkout(self, entitlement=None, trusted_keys=None):
        """A seat of a floating licence, held while this connection stays open: a `Seat`, a
        context manager that gives it back and closes the connection when the block ends. If
        the app dies, its connection closes and the agent gives the seat back at once. Every
        seat held raises LicentricError with code `server_rejected` (reason
        `no_seat_available`).

        With `trusted_keys`, the seat's signed lease is checked here (`verify_lease`, and the
        entitlement asked for), and the seat's figures are the lease's, not the agent's word; a
        seat that fails is given back and NotVerified raised."""
        if trusted_keys is not None and self.product is None:
            raise ValueError("checking a signed document needs the client's product and environment")
        params = {} if entitlement is None else {"entitlement": entitlement}
        info = self.call("checkout", params)
        if trusted_keys is None:
            return Seat(self, info)
        try:
            lease = verify_lease(info.get("lease_file") if isinstance(info, dict) else None,
                                 trusted_keys, self.product, self.environment)
            if entitlement is not None and entitlement not in lease["entitlements"]:
                raise NotVerified("not_entitled", f"the seat does not grant {entitlement!r}")
        except BaseException:
            try:
                self.release()
            except Exception:
                pass  # closing the connection gives it back all the same
            raise
        return Seat(self, {**info, **{k: lease[k] for k in ("expires_at", "max_seats", "entitlements")}}, lease)

    def release(self):
        """Gives this connection's seat back (on the server, when it was the agent's last)."""
        result = self.call("release")
        return isinstance(result, dict) and result.get("released") is True

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
    `seats_in_use`, `max_seats`, `entitlements` (and `lease`, the signed lease's payload, when
    checked here). As a context manager it gives the seat back
    and closes the connection on exit."""

    def __init__(self, client, info, lease=None):
        self.client = client
        self.lease = lease  # the signed lease's payload, when checked here
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

    With `trusted_keys` (the vendor's public keys), the signed licence file is checked here at
    every change, for this machine (`verify_license_file`): the entitlements and the end come
    from the file, and a socket that says "yes" without a file that backs it gets False, with
    the failed check in reason().

        licence = Watcher(default_socket("acme-cad"), "acme-cad", "live")
        if licence.has_entitlement("export-pdf"): ...
    """

    def __init__(self, path, product, environment, heartbeat=30.0, trusted_keys=None):
        self._path, self._product, self._environment = path, product, environment
        self._heartbeat = heartbeat
        self._keys = None if trusted_keys is None else list(trusted_keys)
        self._lock = threading.Condition()
        self._status = None  # None: unknown
        self._view = (False, [], 0.0)  # entitled, entitlements, until (Unix seconds)
        self._reason = "not connected yet"
        self._generation = 0
        self._client = None
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="licentric-watch", daemon=True)
        self._thread.start()

    def is_entitled(self):
        entitled, _, until = self._view  # one read of a reference: no lock needed
        return entitled and time.time() < until

    def has_entitlement(self, code):
        entitled, entitlements, until = self._view
        return entitled and time.time() < until and code in entitlements

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

    def _set(self, status, reason=None, client=None):
        view = (False, [], 0.0)
        if status is not None and status.get("entitled") is True:
            entitlements = [e for e in status.get("entitlements") or [] if isinstance(e, str)]
            view = (True, entitlements, _ends(status))
            if self._keys is not None:
                # A "no" needs no proof; a "yes" needs the signed file's, and ends when it says.
                view, reason = self._checked(client, view)
        with self._lock:
            if status == self._status and reason == self._reason and view == self._view:
                return
            self._status, self._reason, self._view = status, reason, view
            self._generation += 1
            self._lock.notify_all()

    def _checked(self, client, view):
        try:
            text = client.license_file() if client is not None else None
            if text is None:
                raise NotVerified("no_license_file", "the agent holds no licence file")
            payload = verify_license_file(text, self._keys, self._product, self._environment)
        except NotVerified as e:
            return (False, [], 0.0), f"not verified [{e.code}]: {e}"
        ends = [_ends({"offline_valid_until": payload["expires_at"], "license_expires_at": payload["license_expires_at"]})]
        return (True, list(payload["entitlements"]), min(view[2], *ends)), None

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
            self._set(status if isinstance(status, dict) else None, None, client)
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
            seconds = _rfc3339(text)
            if seconds is None:
                return 0.0  # an end that cannot be read is no licence
            ends.append(seconds)
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


def _watch_checked(args):
    """`watch` with the vendor's keys: each change as the Watcher sees it, the file checked."""
    watcher = Watcher(args.socket or default_socket(args.product, args.environment), args.product,
                      args.environment, trusted_keys=args.trusted_key)
    generation = 0
    try:
        while True:
            generation = watcher.wait_for_change(generation, None)
            reason = watcher.reason()
            print(f"entitled (checked here): {str(watcher.is_entitled()).lower()}" + (f" ({reason})" if reason else ""), flush=True)
    finally:
        watcher.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket")
    parser.add_argument("--product", default="acme-cad")
    parser.add_argument("--environment", default="live", choices=["live", "test"])
    parser.add_argument("--timeout", type=float, help="seconds a call may wait (default: 5 for queries)")
    parser.add_argument("--trusted-key", action="append", metavar="HEX",
                        help="the vendor's public key: answer from the signed licence file, checked here (repeatable)")
    parser.add_argument("command", choices=["status", "has_entitlement", "watch"])
    parser.add_argument("code", nargs="?")
    args = parser.parse_args()
    if args.command == "has_entitlement" and not args.code:
        parser.error("has_entitlement needs the entitlement's CODE")
    try:
        client = Client(args.socket or default_socket(args.product, args.environment), args.product, args.environment, args.timeout)
    except NotRunning as e:
        print(f"the licensing agent is not running ({e})", file=sys.stderr)
        return 4
    except LicentricError as e:
        print(f"error [{e.code}]: {e}", file=sys.stderr)
        return 1
    try:
        if args.trusted_key and args.command == "watch":
            client.close()
            return _watch_checked(args)
        if args.trusted_key:
            try:
                licence = client.verified_license(args.trusted_key, args.code if args.command == "has_entitlement" else None)
            except NotVerified as e:
                print(f"not verified [{e.code}]: {e}", file=sys.stderr)
                return 3
            print(f"verified here: {licence['status']} until {licence['expires_at']}, entitlements: {', '.join(licence['entitlements']) or '-'}")
            return 0
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
