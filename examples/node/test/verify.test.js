// Tests of the Node client's own checks of signed documents: the published test vector, and
// documents signed here with its test key, each broken in one way. (Against the real agent,
// and a program squatting on its socket, see tests/e2e/clients.rs.) Run: node --test test/.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const lc = require('../licentric-client.js');

const VECTOR = path.join(__dirname, '..', '..', '..', 'docs', 'test-vectors', 'license-file-v1');
const read = (name) => fs.readFileSync(path.join(VECTOR, name), 'utf8');
const EXPECT = JSON.parse(read('expect.json'));
const PUBLIC = read('public-key.hex').trim();
const FINGERPRINT = EXPECT.fingerprint;
const AT = Date.parse(EXPECT.verify_at);
const privateKey = (seed) => crypto.createPrivateKey({
  key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8',
});
const SIGNER = privateKey(Buffer.from(read('private-seed.hex').trim(), 'hex'));
const OTHER = privateKey(Buffer.from([...Array(32).keys()]));

function armour(label, envelope) {
  const body = Buffer.from(JSON.stringify(envelope)).toString('base64');
  const lines = body.match(/.{1,64}/g);
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

function sign(kind, payload, key = SIGNER, kid) {
  const raw = Buffer.from(JSON.stringify(payload));
  const publicRaw = Buffer.from(crypto.createPublicKey(key).export({ format: 'jwk' }).x, 'base64url');
  return armour(kind.label, {
    v: 1, alg: 'ed25519', kid: kid || crypto.createHash('sha256').update(publicRaw).digest('hex').slice(0, 16),
    payload: raw.toString('base64url'), sig: crypto.sign(null, Buffer.concat([Buffer.from(kind.context), raw]), key).toString('base64url'),
  });
}

const licence = (changes = {}) => ({ ...JSON.parse(read('payload.json')), ...changes });
const lease = (changes = {}) => ({
  lease_id: 'lease_1', license_id: 'lic_0TV1', product_id: 'acme-cad', environment: 'live', fingerprint: FINGERPRINT,
  entitlements: ['pro'], max_seats: 5, issued_at: '2026-11-24T11:55:00Z', expires_at: '2026-11-24T12:10:00Z', nonce: 'n-1', ...changes,
});
const check = (text, { keys = [PUBLIC], now = AT } = {}) => lc.verifyLicenseFile(text, keys, 'acme-cad', 'live', { fingerprint: FINGERPRINT, now });
const checkLease = (text, now = AT) => lc.verifyLease(text, [PUBLIC], 'acme-cad', 'live', { fingerprint: FINGERPRINT, now });
const refused = (code, f) => assert.throws(f, (e) => {
  assert.ok(e instanceof lc.NotVerified, `${e}`);
  assert.strictEqual(e.code, code, e.message);
  return true;
});

test('the published vector, and a file signed here the same way, verify', () => {
  assert.deepStrictEqual(check(read('license.lic')).entitlements, ['pro', 'export-pdf']);
  assert.strictEqual(check(sign(lc.LICENSE_FILE, licence())).license_id, 'lic_0TV1');
});

test('one changed claim in the payload is refused', () => {
  const body = read('license.lic').trim().split('\n').slice(1, -1).join('');
  const envelope = JSON.parse(Buffer.from(body, 'base64'));
  const forged = JSON.parse(Buffer.from(envelope.payload, 'base64url'));
  forged.entitlements.push('enterprise');
  envelope.payload = Buffer.from(JSON.stringify(forged)).toString('base64url');
  refused('signature_invalid', () => check(armour('LICENTRIC LICENSE FILE', envelope)));
});

test('a key the app does not trust is refused, even under the trusted key id', () => {
  refused('unknown_key_id', () => check(sign(lc.LICENSE_FILE, licence(), OTHER)));
  refused('signature_invalid', () => check(sign(lc.LICENSE_FILE, licence(), OTHER, EXPECT.kid)));
});

test('another machine, product or environment is refused', () => {
  refused('fingerprint_mismatch', () => check(sign(lc.LICENSE_FILE, licence({ fingerprint: '0'.repeat(64) }))));
  refused('product_mismatch', () => check(sign(lc.LICENSE_FILE, licence({ product_id: 'acme-cam' }))));
  refused('environment_mismatch', () => check(sign(lc.LICENSE_FILE, licence({ environment: 'test' }))));
});

test("time is this process's clock", () => {
  const text = sign(lc.LICENSE_FILE, licence());
  refused('file_expired', () => check(text, { now: Date.parse('2026-12-07T12:00:00Z') }));
  refused('issued_in_future', () => check(text, { now: Date.parse('2026-11-23T11:54:00Z') }));
  refused('license_expiry_reached', () => check(sign(lc.LICENSE_FILE, licence({ license_expires_at: '2026-11-24T00:00:00Z' }))));
  refused('license_suspended', () => check(sign(lc.LICENSE_FILE, licence({ status: 'suspended' }))));
});

test('a lease is not a licence file, nor the reverse', () => {
  refused('armor_invalid', () => check(sign(lc.LEASE, lease())));
  refused('armor_invalid', () => checkLease(sign(lc.LICENSE_FILE, licence())));
  refused('signature_invalid', () => check(sign(lc.LEASE, licence()).replaceAll('LICENTRIC LEASE', 'LICENTRIC LICENSE FILE')));
});

test('malformed payloads and hostile text get a code, never another exception', () => {
  const { license_id: _, ...noId } = licence();
  for (const payload of [licence({ extra: 1 }), noId, licence({ max_machines: '3' }), licence({ entitlements: 'pro' }),
    licence({ entitlements: [''] }), licence({ expires_at: '2026-11-23T12:00:00Z' }), licence({ issued_at: 'yesterday' }),
    licence({ fingerprint: 'é'.repeat(64) }), licence({ status: 'active!' }), [1, 2], licence({ ['__proto__']: 1 })]) {
    refused('payload_invalid', () => check(sign(lc.LICENSE_FILE, payload)));
  }
  const good = sign(lc.LICENSE_FILE, licence());
  const lines = good.trim().split('\n');
  for (const [text, code] of [
    [null, 'armor_invalid'], ['', 'armor_invalid'], ['x'.repeat(20000), 'armor_invalid'],
    [good.replace('-----END', 'junk!\n-----END'), 'armor_invalid'], [`${good}trailing`, 'armor_invalid'],
    [[lines[0], `${lines[1]}!`, ...lines.slice(2)].join('\n'), 'armor_invalid'],
    [`-----BEGIN LICENTRIC LICENSE FILE-----\n${Buffer.from('[1]').toString('base64')}\n-----END LICENTRIC LICENSE FILE-----`, 'envelope_invalid'],
    [`-----BEGIN LICENTRIC LICENSE FILE-----\n${Buffer.from([0xff, 0xfe]).toString('base64')}\n-----END LICENTRIC LICENSE FILE-----`, 'envelope_invalid'],
    [armour('LICENTRIC LICENSE FILE', { v: 1, alg: 'ed25519', kid: 'é', payload: '', sig: 'A'.repeat(86) }), 'unknown_key_id'],
    [armour('LICENTRIC LICENSE FILE', { v: true, alg: 'ed25519', kid: '', payload: '', sig: '' }), 'envelope_invalid'],
  ]) {
    refused(code, () => check(text));
  }
  refused('bad_trusted_key', () => check(good, { keys: ['not hex'] }));
});

test('padding bits that are not zero are refused; CRLF and surrounding space are not', () => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const text = [1, 2, 3].map((n) => sign(lc.LICENSE_FILE, licence({ machine_id: 'm'.repeat(n) })))
    .find((t) => t.trim().split('\n').at(-2).endsWith('='));
  const lines = text.trim().split('\n');
  const last = lines.at(-2).replace(/=+$/, '');
  const flipped = last.slice(0, -1) + alphabet[alphabet.indexOf(last.at(-1)) ^ 1] + lines.at(-2).slice(last.length);
  assert.deepStrictEqual(Buffer.from(flipped, 'base64'), Buffer.from(lines.at(-2), 'base64'));
  refused('armor_invalid', () => check([...lines.slice(0, -2), flipped, lines.at(-1)].join('\n')));
  check(` \r\n${text.replaceAll('\n', '\r\n')}\t\n`);
});

test('a signed lease for this machine verifies; another machine or a lease run out does not', () => {
  assert.strictEqual(checkLease(sign(lc.LEASE, lease({ borrowed: true, kept_to_end: true }))).max_seats, 5);
  refused('fingerprint_mismatch', () => checkLease(sign(lc.LEASE, lease({ fingerprint: '1'.repeat(64) }))));
  refused('file_expired', () => checkLease(sign(lc.LEASE, lease({ expires_at: '2026-11-24T12:00:00Z' }))));
  for (const changes of [{ max_seats: 2 ** 40 }, { borrowed: 'yes' }, { seats_in_use: 1 }, { nonce: '' }]) {
    refused('payload_invalid', () => checkLease(sign(lc.LEASE, lease(changes))));
  }
});

test('the fingerprint: the test override is honoured in test only', () => {
  const saved = process.env.LICENTRIC_MACHINE_ID;
  process.env.LICENTRIC_MACHINE_ID = ' 0123456789ABCDEF0123456789abcdef\n';
  try {
    const expected = crypto.createHmac('sha256', '0123456789abcdef0123456789abcdef').update('licentric.fingerprint.v1:acme-cad').digest('hex');
    assert.strictEqual(lc.machineFingerprint('acme-cad', 'test'), expected);
    assert.notStrictEqual(lc.machineFingerprint('acme-cad', 'live'), expected);
  } finally {
    if (saved === undefined) delete process.env.LICENTRIC_MACHINE_ID; else process.env.LICENTRIC_MACHINE_ID = saved;
  }
});

test('what the companion reads is read here too', () => {
  const { nonce, ...noNonce } = licence();
  for (const payload of [noNonce, licence({ check_interval: null }), licence({ check_interval: 2 ** 40 }),
    licence({ machine_id: 'm'.repeat(128) }), licence({ issued_at: '2026-11-23t12:00:00z' }),
    licence({ issued_at: '2026-11-23 12:00:00Z' }), licence({ issued_at: '2026-11-23T17:30:00.250+05:30' }),
    licence({ issued_at: '2026-11-23T11:59:60Z' })]) {
    check(sign(lc.LICENSE_FILE, payload));
  }
  for (const changes of [{ label: null }, { entitlements: Array(300).fill('x') }, { entitlements: [''] }, { issued_at: '2026-11-24 11:55:00Z' }]) {
    checkLease(sign(lc.LEASE, lease(changes)));
  }
});

test('what the companion refuses is refused here too', () => {
  for (const changes of [{ issued_at: '2026-02-30T12:00:00Z' }, { issued_at: '2026-11-23T24:00:00Z' }]) {
    refused('payload_invalid', () => check(sign(lc.LICENSE_FILE, licence(changes))));
  }
  const raw = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(licence()))]);
  const envelope = {
    v: 1, alg: 'ed25519', kid: EXPECT.kid, payload: raw.toString('base64url'),
    sig: crypto.sign(null, Buffer.concat([Buffer.from(lc.LICENSE_FILE.context), raw]), SIGNER).toString('base64url'),
  };
  refused('payload_invalid', () => check(armour('LICENTRIC LICENSE FILE', envelope)));
});

test('unsigned input built to crash gets a code', () => {
  for (const kid of [{ toString: 1 }, [{ toString: 1 }], 5]) {
    refused('envelope_invalid', () => check(armour('LICENTRIC LICENSE FILE', { v: 1, alg: 'ed25519', kid, payload: '', sig: 'A'.repeat(86) })));
  }
  const deep = `-----BEGIN LICENTRIC LICENSE FILE-----\n${Buffer.from('['.repeat(5000)).toString('base64')}\n-----END LICENTRIC LICENSE FILE-----`;
  refused('envelope_invalid', () => check(deep));
  refused('armor_invalid', () => check(`${' '.repeat(8000)}x${' '.repeat(8000)}`));
});

test('a small-order key is never trusted', () => {
  const good = sign(lc.LICENSE_FILE, licence());
  for (const weak of ['00'.repeat(32), `01${'00'.repeat(31)}`, `ec${'ff'.repeat(31)}`]) {
    refused('bad_trusted_key', () => check(good, { keys: [PUBLIC, weak] }));
  }
});

test('a watcher given an empty key list checks, and finds nothing to trust', async () => {
  const watcher = Object.create(lc.Watcher.prototype);
  Object.assign(watcher, { product: 'acme-cad', environment: 'live', trustedKeys: [], turn: 0, listeners: new Set(),
    status: null, reason: null, view: { entitled: false, entitlements: [], until: 0 } });
  const changed = new Promise((resolve) => watcher.listeners.add(resolve));
  watcher.take({ entitled: true, entitlements: ['pro'], offline_valid_until: '2999-01-01T00:00:00Z' },
    { licenseFile: async () => sign(lc.LICENSE_FILE, licence()) });
  await changed;
  assert.strictEqual(watcher.hasEntitlement('pro'), false);
  assert.match(watcher.reason, /not verified/);
});
