"""Tests of the Python client's own checks of signed documents (needs `cryptography`): the
published test vector, and documents signed here with its test key, each broken in one way.
(Against the real agent, and a program squatting on its socket, see tests/e2e/clients.rs.)
Run: python3 -m unittest discover -s examples/python"""
import base64
import hashlib
import hmac
import json
import os
import pathlib
import unittest
from datetime import datetime
from unittest import mock

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import licentric_client as lc

VECTOR = pathlib.Path(__file__).resolve().parent.parent.parent / "docs" / "test-vectors" / "license-file-v1"
EXPECT = json.loads((VECTOR / "expect.json").read_text())
PUBLIC = (VECTOR / "public-key.hex").read_text().strip()
SIGNER = Ed25519PrivateKey.from_private_bytes(bytes.fromhex((VECTOR / "private-seed.hex").read_text().strip()))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
FINGERPRINT = EXPECT["fingerprint"]
AT = datetime.fromisoformat(EXPECT["verify_at"].replace("Z", "+00:00")).timestamp()


def b64url(raw):
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def armour(label, envelope):
    body = base64.b64encode(json.dumps(envelope, separators=(",", ":")).encode()).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def sign(kind, payload, key=SIGNER, kid=None):
    label, context, _ = kind
    raw = json.dumps(payload, separators=(",", ":")).encode()
    public = key.public_key().public_bytes_raw()
    envelope = {"v": 1, "alg": "ed25519", "kid": kid or hashlib.sha256(public).hexdigest()[:16],
                "payload": b64url(raw), "sig": b64url(key.sign(context + raw))}
    return armour(label, envelope)


def licence(**changes):
    payload = json.loads((VECTOR / "payload.json").read_text())
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not ...}


def lease(**changes):
    payload = {"lease_id": "lease_1", "license_id": "lic_0TV1", "product_id": "acme-cad", "environment": "live",
               "fingerprint": FINGERPRINT, "entitlements": ["pro"], "max_seats": 5,
               "issued_at": "2026-11-24T11:55:00Z", "expires_at": "2026-11-24T12:10:00Z", "nonce": "n-1"}
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not ...}


def check(text, keys=(PUBLIC,), now=AT):
    return lc.verify_license_file(text, keys, "acme-cad", "live", fingerprint=FINGERPRINT, now=now)


def check_lease(text, now=AT):
    return lc.verify_lease(text, [PUBLIC], "acme-cad", "live", fingerprint=FINGERPRINT, now=now)


class LicenceFile(unittest.TestCase):
    def refused(self, code, text, **given):
        with self.assertRaises(lc.NotVerified) as caught:
            check(text, **given)
        self.assertEqual(caught.exception.code, code, str(caught.exception))

    def test_the_published_vector_verifies(self):
        payload = check((VECTOR / "license.lic").read_text())
        self.assertEqual(payload["entitlements"], ["pro", "export-pdf"])

    def test_a_file_signed_here_the_same_way_verifies(self):
        self.assertEqual(check(sign(lc.LICENSE_FILE, licence()))["license_id"], "lic_0TV1")

    def test_one_changed_character_of_the_payload_is_refused(self):
        envelope_text = (VECTOR / "license.lic").read_text()
        body = "".join(envelope_text.strip().split("\n")[1:-1])
        envelope = json.loads(base64.b64decode(body))
        forged = json.loads(base64.urlsafe_b64decode(envelope["payload"] + "=="))
        forged["entitlements"].append("enterprise")
        envelope["payload"] = b64url(json.dumps(forged, separators=(",", ":")).encode())
        self.refused("signature_invalid", armour("LICENTRIC LICENSE FILE", envelope))

    def test_a_key_the_app_does_not_trust_is_refused_even_with_the_trusted_kid(self):
        self.refused("unknown_key_id", sign(lc.LICENSE_FILE, licence(), key=OTHER))
        self.refused("signature_invalid", sign(lc.LICENSE_FILE, licence(), key=OTHER, kid=EXPECT["kid"]))

    def test_another_machine_product_or_environment_is_refused(self):
        self.refused("fingerprint_mismatch", sign(lc.LICENSE_FILE, licence(fingerprint="0" * 64)))
        self.refused("product_mismatch", sign(lc.LICENSE_FILE, licence(product_id="acme-cam")))
        self.refused("environment_mismatch", sign(lc.LICENSE_FILE, licence(environment="test")))

    def test_time_is_this_processes_clock(self):
        text = sign(lc.LICENSE_FILE, licence())
        self.refused("file_expired", text, now=datetime.fromisoformat("2026-12-07T12:00:00+00:00").timestamp())
        self.refused("issued_in_future", text, now=datetime.fromisoformat("2026-11-23T11:54:00+00:00").timestamp())
        self.refused("license_expiry_reached", sign(lc.LICENSE_FILE, licence(license_expires_at="2026-11-24T00:00:00Z")))

    def test_a_signed_refusal_status_is_not_a_licence(self):
        self.refused("license_suspended", sign(lc.LICENSE_FILE, licence(status="suspended")))
        self.refused("license_revoked", sign(lc.LICENSE_FILE, licence(status="revoked")))

    def test_a_lease_is_not_a_licence_file_nor_the_reverse(self):
        self.refused("armor_invalid", sign(lc.LEASE, lease()))
        with self.assertRaises(lc.NotVerified) as caught:
            check_lease(sign(lc.LICENSE_FILE, licence()))
        self.assertEqual(caught.exception.code, "armor_invalid")
        relabelled = sign(lc.LEASE, licence()).replace("LICENTRIC LEASE", "LICENTRIC LICENSE FILE")
        self.refused("signature_invalid", relabelled)

    def test_malformed_payloads_are_refused_not_crashes(self):
        for payload, code in [
            (licence(extra=1), "payload_invalid"),
            (licence(license_id=...), "payload_invalid"),
            (licence(max_machines="3"), "payload_invalid"),
            (licence(entitlements="pro"), "payload_invalid"),
            (licence(entitlements=[""]), "payload_invalid"),
            (licence(expires_at="2026-11-23T12:00:00Z"), "payload_invalid"),
            (licence(issued_at="yesterday"), "payload_invalid"),
            (licence(fingerprint="é" * 64), "payload_invalid"),
            (licence(status="active!"), "payload_invalid"),
            ([1, 2], "payload_invalid"),
        ]:
            with self.subTest(payload=payload):
                self.refused(code, sign(lc.LICENSE_FILE, payload))

    def test_hostile_text_gets_a_code_never_an_exception(self):
        good = sign(lc.LICENSE_FILE, licence())
        lines = good.strip().split("\n")
        for text, code in [
            (None, "armor_invalid"),
            ("", "armor_invalid"),
            ("x" * 20000, "armor_invalid"),
            (good.replace("-----END", "junk!\n-----END"), "armor_invalid"),
            (good + "trailing", "armor_invalid"),
            ("\n".join([lines[0], lines[1] + "!", *lines[2:]]), "armor_invalid"),
            ("-----BEGIN LICENTRIC LICENSE FILE-----\n" + base64.b64encode(b"[1]").decode() + "\n-----END LICENTRIC LICENSE FILE-----", "envelope_invalid"),
            ("-----BEGIN LICENTRIC LICENSE FILE-----\n" + base64.b64encode(b"\xff\xfe").decode() + "\n-----END LICENTRIC LICENSE FILE-----", "envelope_invalid"),
            (armour("LICENTRIC LICENSE FILE", {"v": 1, "alg": "ed25519", "kid": "é", "payload": "", "sig": "A" * 86}), "unknown_key_id"),
            (armour("LICENTRIC LICENSE FILE", {"v": True, "alg": "ed25519", "kid": "", "payload": "", "sig": ""}), "envelope_invalid"),
        ]:
            with self.subTest(text=str(text)[:60]):
                self.refused(code, text)

    def test_padding_bits_that_are_not_zero_are_refused(self):
        # Every change to the text is noticed: the same bytes written with other padding bits.
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        text = next(t for t in (sign(lc.LICENSE_FILE, licence(machine_id="m" * n)) for n in range(1, 4))
                    if t.strip().split("\n")[-2].endswith("="))
        lines = text.strip().split("\n")
        last = lines[-2].rstrip("=")
        flipped = last[:-1] + alphabet[alphabet.index(last[-1]) ^ 1] + lines[-2][len(last):]
        self.assertEqual(base64.b64decode(flipped), base64.b64decode(lines[-2]))
        self.refused("armor_invalid", "\n".join([*lines[:-2], flipped, lines[-1]]))

    def test_what_the_companion_reads_is_read_here_too(self):
        # Members it may leave out or set to null, and the other spellings of a time.
        for payload in [
            licence(nonce=...),
            licence(check_interval=None),
            licence(check_interval=2**40),
            licence(product_id="acme-cad", machine_id="m" * 128),
            licence(issued_at="2026-11-23t12:00:00z"),
            licence(issued_at="2026-11-23 12:00:00Z"),
            licence(issued_at="2026-11-23T17:30:00.250+05:30"),
            licence(issued_at="2026-11-23T11:59:60Z"),
        ]:
            with self.subTest(payload=payload):
                check(sign(lc.LICENSE_FILE, payload))

    def test_what_the_companion_refuses_is_refused_here_too(self):
        raw = json.dumps(licence()).encode()
        for payload_bytes, code in [
            (raw[:-1] + b',"status":"active"}', "payload_invalid"),  # a member twice
            (b"\xef\xbb\xbf" + raw, "payload_invalid"),  # a byte-order mark
            (json.dumps(licence()).encode("utf-16"), "payload_invalid"),
            (json.dumps(licence(max_machines=3.0)).encode(), "payload_invalid"),
            (json.dumps(licence(issued_at="2026-02-30T12:00:00Z")).encode(), "payload_invalid"),
            (json.dumps(licence(issued_at="2026-11-23T24:00:00Z")).encode(), "payload_invalid"),
        ]:
            envelope = {"v": 1, "alg": "ed25519", "kid": EXPECT["kid"], "payload": b64url(payload_bytes),
                        "sig": b64url(SIGNER.sign(b"licentric.license-file.v1\n" + payload_bytes))}
            with self.subTest(payload=payload_bytes[:40]):
                self.refused(code, armour("LICENTRIC LICENSE FILE", envelope))
        self.refused("envelope_invalid", armour("LICENTRIC LICENSE FILE", {"v": 1.0, "alg": "ed25519", "kid": EXPECT["kid"], "payload": "", "sig": ""}))

    def test_unsigned_input_built_to_crash_gets_a_code(self):
        good = sign(lc.LICENSE_FILE, licence())
        deep = "-----BEGIN LICENTRIC LICENSE FILE-----\n" + base64.b64encode(b"[" * 5000).decode() + "\n-----END LICENTRIC LICENSE FILE-----"
        for text, code in [
            (good[:-30] + "\ud800" + good[-29:], "armor_invalid"),
            (armour("LICENTRIC LICENSE FILE", {"v": 1, "alg": "ed25519", "kid": "\ud800", "payload": "", "sig": "A" * 86}), "unknown_key_id"),
            (armour("LICENTRIC LICENSE FILE", {"v": 1, "alg": "ed25519", "kid": {"a": 1}, "payload": "", "sig": "A" * 86}), "envelope_invalid"),
            (deep, "envelope_invalid"),
            (" " * 20000, "armor_invalid"),
        ]:
            with self.subTest(text=ascii(text[:50])):
                self.refused(code, text)

    def test_a_small_order_key_is_never_trusted(self):
        # Under the all-zero key, S = 0 with R a multiple of it "verifies" anything.
        for weak in ["00" * 32, "01" + "00" * 31, "ec" + "ff" * 30 + "ff"]:
            with self.subTest(key=weak[:8]):
                self.refused("bad_trusted_key", sign(lc.LICENSE_FILE, licence()), keys=[PUBLIC, weak])

    def test_crlf_and_surrounding_space_are_accepted(self):
        text = sign(lc.LICENSE_FILE, licence())
        check(" \r\n" + text.replace("\n", "\r\n") + "\t\n")

    def test_a_trusted_key_that_is_not_hex_is_a_clear_error(self):
        self.refused("bad_trusted_key", sign(lc.LICENSE_FILE, licence()), keys=["not hex"])


class Lease(unittest.TestCase):
    def refused(self, code, text, **given):
        with self.assertRaises(lc.NotVerified) as caught:
            check_lease(text, **given)
        self.assertEqual(caught.exception.code, code, str(caught.exception))

    def test_a_signed_lease_for_this_machine_verifies(self):
        self.assertEqual(check_lease(sign(lc.LEASE, lease(borrowed=True, kept_to_end=True)))["max_seats"], 5)

    def test_what_the_companion_reads_in_a_lease_is_read_here_too(self):
        for changes in [{"label": None}, {"label": "cad@ada"}, {"entitlements": ["x"] * 300},
                        {"entitlements": [""]}, {"issued_at": "2026-11-24 11:55:00Z"}]:
            with self.subTest(changes=changes):
                check_lease(sign(lc.LEASE, lease(**changes)))

    def test_another_machine_or_a_lease_run_out_is_refused(self):
        self.refused("fingerprint_mismatch", sign(lc.LEASE, lease(fingerprint="1" * 64)))
        self.refused("file_expired", sign(lc.LEASE, lease(expires_at="2026-11-24T12:00:00Z")))
        self.refused("payload_invalid", sign(lc.LEASE, lease(max_seats=2**40)))
        self.refused("payload_invalid", sign(lc.LEASE, lease(borrowed="yes")))
        self.refused("payload_invalid", sign(lc.LEASE, lease(seats_in_use=1)))
        self.refused("payload_invalid", sign(lc.LEASE, lease(nonce="")))


class Fingerprint(unittest.TestCase):
    def test_the_test_override_is_honoured_in_test_only(self):
        with mock.patch.dict(os.environ, {"LICENTRIC_MACHINE_ID": " 0123456789ABCDEF0123456789abcdef\n"}):
            expected = hmac.new(b"0123456789abcdef0123456789abcdef", b"licentric.fingerprint.v1:acme-cad", hashlib.sha256).hexdigest()
            self.assertEqual(lc.machine_fingerprint("acme-cad", "test"), expected)
            self.assertNotEqual(lc.machine_fingerprint("acme-cad", "live"), expected)

    def test_a_machine_id_that_is_not_one_is_ignored(self):
        for text in ["", "0000", "abc def", "x" * 300]:
            self.assertIsNone(lc._machine_id_text(text), text)


if __name__ == "__main__":
    unittest.main()


class CheckoutWithKeys(unittest.TestCase):
    """A seat whose check fails in any way — a refusal or a failure of its own — goes back."""

    def test_the_seat_goes_back_whatever_the_failure(self):
        for failure in [lc.NotVerified("fingerprint_mismatch", "elsewhere"), RuntimeError("a bug")]:
            with self.subTest(failure=failure):
                asked = []
                client = lc.Client.__new__(lc.Client)
                client.product, client.environment = "acme-cad", "live"
                answers = {"checkout": {"lease_file": "x", "expires_at": "2099-01-01T00:00:00Z"}, "release": "not an object"}
                client.call = lambda method, params=None: asked.append(method) or answers[method]
                with mock.patch.object(lc, "verify_lease", side_effect=failure):
                    with self.assertRaises(type(failure)):
                        client.checkout("pro", trusted_keys=[PUBLIC])
                self.assertEqual(asked, ["checkout", "release"])


class WatcherKeys(unittest.TestCase):
    def test_an_empty_key_list_checks_and_finds_nothing_to_trust(self):
        watcher = lc.Watcher.__new__(lc.Watcher)
        watcher._keys, watcher._product, watcher._environment = [], "acme-cad", "live"
        watcher._status, watcher._reason, watcher._view, watcher._generation = None, None, (False, [], 0.0), 0
        watcher._lock = __import__("threading").Condition()
        client = mock.Mock()
        client.license_file.return_value = sign(lc.LICENSE_FILE, licence())
        watcher._set({"entitled": True, "entitlements": ["pro"], "offline_valid_until": "2999-01-01T00:00:00Z"}, None, client)
        self.assertFalse(watcher.has_entitlement("pro"))

    def test_an_end_in_lower_case_is_read(self):
        self.assertEqual(lc._ends({"offline_valid_until": "2026-11-24t12:00:00z"}), AT)
