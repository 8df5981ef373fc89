#!/usr/bin/env python3
"""An independent verifier for Licentric licence files v1, written from docs/license-file.md.

It shares no code with the Rust implementation: Python's standard library for the armour,
base64 and JSON, and the `cryptography` package for Ed25519.

    python3 verify.py [DIR]        # checks the test vector in DIR (default: this folder)
"""
import base64
import hashlib
import json
import pathlib
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

CONTEXT = b"licentric.license-file.v1\n"
BEGIN = "-----BEGIN LICENTRIC LICENSE FILE-----"
END = "-----END LICENTRIC LICENSE FILE-----"


def b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify(armored: str, public_key: bytes, product_id: str, environment: str, fingerprint: str) -> dict:
    lines = [line.rstrip("\r") for line in armored.strip(" \t\r\n").split("\n")]
    if lines[0] != BEGIN or lines[-1] != END:
        raise ValueError("armor_invalid")
    envelope = json.loads(base64.b64decode("".join(lines[1:-1]), validate=True))
    if envelope["v"] != 1 or envelope["alg"] != "ed25519":
        raise ValueError("envelope_invalid")
    kid = hashlib.sha256(public_key).hexdigest()[:16]
    if envelope["kid"] != kid:
        raise ValueError("unknown_key_id")
    payload_bytes = b64url(envelope["payload"])
    Ed25519PublicKey.from_public_bytes(public_key).verify(b64url(envelope["sig"]), CONTEXT + payload_bytes)
    payload = json.loads(payload_bytes)
    if payload["product_id"] != product_id:
        raise ValueError("product_mismatch")
    if payload["environment"] != environment:
        raise ValueError("environment_mismatch")
    if payload["fingerprint"] != fingerprint:
        raise ValueError("fingerprint_mismatch")
    return payload


def main() -> int:
    folder = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent)
    expect = json.loads((folder / "expect.json").read_text())
    public_key = bytes.fromhex((folder / "public-key.hex").read_text().strip())
    armored = (folder / "license.lic").read_text()
    payload = verify(armored, public_key, expect["product_id"], expect["environment"], expect["fingerprint"])
    if payload != json.loads((folder / "payload.json").read_text()):
        print("payload differs from payload.json", file=sys.stderr)
        return 1
    if payload["nonce"] != expect["nonce"]:
        print("nonce differs", file=sys.stderr)
        return 1
    # A one-character change to the signed payload must be refused.
    tampered = armored.replace(armored.splitlines()[3][:8], armored.splitlines()[3][:7] + "A", 1)
    try:
        verify(tampered, public_key, expect["product_id"], expect["environment"], expect["fingerprint"])
    except Exception:  # noqa: BLE001 - any refusal will do
        pass
    else:
        print("a tampered file verified", file=sys.stderr)
        return 1
    print(f"ok: test vector verifies (kid {expect['kid']}, licence {payload['license_id']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
