#!/usr/bin/env node
// Ask the Licentric companion about this machine's licence — Node.js standard library only.
//
//   node licentric-client.js [--socket PATH] [--product ID] [--environment live|test] status
//   node licentric-client.js [--socket PATH] [--product ID] [--environment live|test] has_entitlement CODE
//
// Or as a module: const { Client, Watcher, defaultSocket } = require('./licentric-client.js');
// For an app that checks on every action, `Watcher` answers from memory what the agent last
// pushed (and false whenever it cannot reach the agent). With a floating licence, an app holds
// a seat while it runs (docs/floating.md):
//
//   await withSeat(defaultSocket('acme-cad'), 'acme-cad', 'live', { entitlement: 'pro' },
//     async (seat) => { /* the seat is this app's until this returns (or the app dies) */ });
// Every call times out (5 s for a query), a closed, silent or misbehaving agent is an error,
// and only a plain `entitled: true` counts as entitled.
//
// The protocol (docs/ipc.md): JSON-RPC 2.0, one JSON object per line, on a Unix socket at
// $XDG_RUNTIME_DIR/licentric/<product_id>-<environment>.sock. Errors carry a stable
// `error.data.code`.
//
// Before sending anything, the client checks that the socket is its own user's (DESIGN §5): the
// socket's folder must be a real folder owned by this user with mode 0700, and the socket
// itself this user's. (Node cannot ask for the peer's credentials; in a folder only this user
// can write to, only this user — or root — can have made the socket.)
//
// Against the machine's own user — who can run any program on their own socket — the socket's
// answer is advisory. An app that must hold against its user gives its vendor's public keys and
// checks the signed documents itself, with this machine's fingerprint computed here and its own
// clock (docs/security.md):
//
//   const VENDOR_KEYS = ['dea53b80…']; // 64 hex characters each, built into the app
//   const licence = await client.verifiedLicense(VENDOR_KEYS, 'pro'); // throws NotVerified
//   const seat = await client.checkout('pro', { trustedKeys: VENDOR_KEYS }); // the lease is checked
//
//   node licentric-client.js --trusted-key HEX has_entitlement CODE   # the same, from the shell
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const PROTOCOL_VERSION = 1;
// How long a query may wait for its answer, and a management call (milliseconds). An agent
// that does not answer in time is treated as "not entitled", never as "entitled".
const QUERY_TIMEOUT = 5000;
const MANAGEMENT_TIMEOUT = 60000;
const MANAGEMENT = new Set(['activate', 'deactivate', 'refresh', 'import_license_file', 'request_file']);
const MAX_LINE = 64 * 1024;
const MAX_PENDING_CHANGES = 16;

class AgentError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

class Client {
  // With `product` and `environment`, an agent that serves another is refused (a sandbox
  // agent where the live one should be).
  constructor(socketPath, product, environment, timeout) {
    this.socketPath = socketPath;
    this.product = product;
    this.environment = environment;
    this.timeout = timeout;
    this.nextId = 1;
    this.waiting = new Map();
    this.buffer = '';
    this.changes = [];
    this.onChange = null;
    this.closed = null;
  }

  connect() {
    checkEndpoint(this.socketPath);
    return new Promise((resolve, reject) => {
      this.sock = net.createConnection(this.socketPath, async () => {
        try {
          const version = await this.call('version');
          if (version.protocol !== PROTOCOL_VERSION) throw new Error(`the agent speaks protocol ${version.protocol}`);
          if (this.product !== undefined && (version.product_id !== this.product || version.environment !== this.environment)) {
            this.sock.destroy();
            throw new UnsafeEndpoint('wrong_agent', `the agent at this socket serves ${version.product_id} (${version.environment}), not ${this.product} (${this.environment})`);
          }
          resolve(this);
        } catch (e) { reject(e); }
      });
      this.sock.on('error', (e) => { reject(e); this.fail(new AgentError('io_error', `the connection failed (${e.message})`)); });
      this.sock.on('close', () => this.fail(new AgentError('io_error', 'the agent closed the connection')));
      this.sock.on('data', (chunk) => this.onData(chunk));
    });
  }

  // Every call still waiting gets `error`: nothing is left to resolve as "entitled".
  fail(error) {
    if (!this.closed) this.closed = error;
    for (const pending of this.waiting.values()) pending.reject(error);
    this.waiting.clear();
  }

  onData(chunk) {
    this.buffer += chunk.toString('utf8');
    if (this.buffer.length > MAX_LINE && this.buffer.indexOf('\n') < 0) {
      this.fail(new AgentError('malformed_answer', 'an over-long answer'));
      this.sock.destroy();
      return;
    }
    let newline;
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, newline);
      this.buffer = this.buffer.slice(newline + 1);
      if (line.length > MAX_LINE) {
        this.fail(new AgentError('malformed_answer', 'an over-long answer'));
        this.sock.destroy();
        return;
      }
      if (!line.trim()) continue;
      let message;
      try { message = JSON.parse(line); } catch (e) {
        this.fail(new AgentError('malformed_answer', 'a malformed answer'));
        this.sock.destroy();
        return;
      }
      if (!message || typeof message !== 'object') continue;
      if (message.method === 'status_changed') {
        if (this.onChange) this.onChange(message.params);
        else { this.changes.push(message.params); this.changes.splice(0, this.changes.length - MAX_PENDING_CHANGES); }
        continue;
      }
      const pending = this.waiting.get(message.id);
      if (!pending) continue; // an answer nobody waits for
      this.waiting.delete(message.id);
      if (message.error) {
        const data = message.error.data || {};
        pending.reject(new AgentError(data.code || 'error', message.error.message || 'error'));
      } else if (!('result' in message)) {
        pending.reject(new AgentError('malformed_answer', 'a malformed answer'));
      } else {
        pending.resolve(message.result);
      }
    }
  }

  call(method, params) {
    if (this.closed) return Promise.reject(this.closed);
    const id = this.nextId++;
    const request = { jsonrpc: '2.0', id, method };
    if (params !== undefined) request.params = params;
    const limit = this.timeout || (MANAGEMENT.has(method) ? MANAGEMENT_TIMEOUT : QUERY_TIMEOUT);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new AgentError('timeout', 'the agent did not answer in time'));
      }, limit);
      const done = (f) => (value) => { clearTimeout(timer); f(value); };
      this.waiting.set(id, { resolve: done(resolve), reject: done(reject) });
      this.sock.write(JSON.stringify(request) + '\n');
    });
  }

  /** True only if the agent says so, plainly; anything else is false or an error. */
  async hasEntitlement(code) {
    const result = await this.call('has_entitlement', { code });
    return !!result && result.entitled === true;
  }

  /** Calls `onChange(status)` with the current status, then at every change. */
  async subscribe(onChange) {
    this.onChange = onChange;
    const result = await this.call('subscribe');
    onChange(result.status);
    for (const status of this.changes.splice(0)) onChange(status);
  }

  /** The signed licence file the agent holds (text), or null. */
  async licenseFile() {
    const result = await this.call('license_file');
    return result && typeof result.license_file === 'string' ? result.license_file : null;
  }

  /**
   * The agent's licence file, checked here (`verifyLicenseFile`): its payload, or a thrown
   * NotVerified. With `entitlement`, the file must grant it too (code `not_entitled`); and the
   * agent must count the machine as entitled (code `agent_not_entitled`).
   */
  async verifiedLicense(trustedKeys, entitlement) {
    this.needsProduct();
    const text = await this.licenseFile();
    if (text === null) throw new NotVerified('no_license_file', 'the agent holds no licence file');
    const payload = verifyLicenseFile(text, trustedKeys, this.product, this.environment);
    if (entitlement !== undefined && !payload.entitlements.includes(entitlement)) {
      throw new NotVerified('not_entitled', `the licence does not grant ${JSON.stringify(entitlement)}`);
    }
    // And the agent must count the machine as entitled: a genuine file it no longer vouches
    // for (a copy put back, the clock turned back) passes the checks above.
    const status = await this.call('status');
    if (!status || status.entitled !== true) {
      const said = status && typeof status === 'object' ? status : {};
      throw new NotVerified('agent_not_entitled', `the agent does not count this machine as entitled: ${said.state} (${said.reason})`);
    }
    return payload;
  }

  /**
   * A seat of a floating licence, held while this connection stays open ({expires_at,
   * seats_in_use, max_seats, entitlements}); give it back with `release()` or by closing. If
   * the app dies, its connection closes and the agent gives the seat back at once. Every
   * seat held rejects with code `server_rejected` (reason `no_seat_available`).
   *
   * With `trustedKeys`, the seat's signed lease is checked here (`verifyLease`, and the
   * entitlement asked for), the seat's figures are the lease's (and `lease` its payload), and
   * a seat that fails is given back before NotVerified is thrown.
   */
  async checkout(entitlement, { trustedKeys } = {}) {
    if (trustedKeys !== undefined) this.needsProduct();
    const seat = await this.call('checkout', entitlement === undefined ? {} : { entitlement });
    if (trustedKeys === undefined) return seat;
    try {
      const lease = verifyLease(seat && seat.lease_file, trustedKeys, this.product, this.environment);
      if (entitlement !== undefined && !lease.entitlements.includes(entitlement)) {
        throw new NotVerified('not_entitled', `the seat does not grant ${JSON.stringify(entitlement)}`);
      }
      const { expires_at, max_seats, entitlements } = lease;
      return { ...seat, expires_at, max_seats, entitlements, lease };
    } catch (e) {
      await this.release().catch(() => {}); // closing gives it back all the same
      throw e;
    }
  }

  needsProduct() {
    if (this.product === undefined) throw new TypeError("checking a signed document needs the client's product and environment");
  }

  /** Gives this connection's seat back (on the server, when it was the agent's last). */
  async release() {
    const result = await this.call('release');
    return !!result && result.released === true;
  }

  close() { this.sock.end(); }
}

/**
 * Holds a seat while `use(seat)` runs, then gives it back and closes the connection, whether
 * `use` returns or throws — the `using` pattern for a floating licence.
 */
async function withSeat(socketPath, product, environment, { entitlement, timeout, trustedKeys } = {}, use) {
  const client = await new Client(socketPath, product, environment, timeout).connect();
  try {
    const seat = await client.checkout(entitlement, { trustedKeys });
    try {
      return await use(seat);
    } finally {
      await client.release().catch(() => {}); // closing gives it back all the same
    }
  } finally {
    client.close();
  }
}

// The earlier of the offline period's end and the licence's (milliseconds since the epoch);
// an end that cannot be read is no licence.
function ends(status) {
  let end = Infinity;
  for (const key of ['offline_valid_until', 'license_expires_at']) {
    if (typeof status[key] !== 'string') continue;
    const t = rfc3339(status[key]);
    if (Number.isNaN(t)) return 0;
    end = Math.min(end, t);
  }
  return end;
}

/**
 * Answers from memory: connects once, subscribes, keeps the last status the agent pushed, and
 * answers isEntitled() / hasEntitlement(code) without asking the agent. It asks for the status
 * when the agent has been quiet for `heartbeat` ms, and reconnects with back-off when the
 * agent restarts. While it cannot reach the agent every answer is false — never a stale true —
 * and even a current true ends with the offline period or the licence, by this machine's clock.
 *
 *   const licence = new Watcher(defaultSocket('acme-cad', 'live'), 'acme-cad', 'live');
 *   if (licence.hasEntitlement('export-pdf')) { ... }
 */
class Watcher {
  constructor(socketPath, product, environment, { heartbeat = 30000, trustedKeys } = {}) {
    Object.assign(this, { socketPath, product, environment, heartbeat, trustedKeys });
    this.status = null; // null: unknown
    this.view = { entitled: false, entitlements: [], until: 0 };
    this.turn = 0; // the status being checked: an answer to an older one is dropped
    this.reason = 'not connected yet';
    this.stopped = false;
    this.client = null;
    this.listeners = new Set();
    this.run();
  }

  isEntitled() {
    return this.view.entitled && Date.now() < this.view.until;
  }

  hasEntitlement(code) {
    const { entitled, entitlements, until } = this.view;
    return entitled && Date.now() < until && entitlements.includes(code);
  }

  /** Calls `listener(watcher)` at every change of what it knows; returns how to stop. */
  onChange(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close() {
    this.stopped = true;
    if (this.client) this.client.sock.destroy();
    clearTimeout(this.sleep);
    if (this.wake) this.wake();
  }

  // Unknown: the answer is no, and a check still under way for the last status is dropped.
  forget(reason) {
    this.turn++;
    this.set(null, reason);
  }

  set(status, reason, view = viewOf(status)) {
    if (JSON.stringify([status, reason, view]) === JSON.stringify([this.status, this.reason, this.view])) return;
    this.status = status;
    this.reason = reason;
    this.view = view;
    for (const listener of this.listeners) listener(this);
  }

  async run() {
    let backoff = 50;
    while (!this.stopped) {
      try {
        const client = await new Client(this.socketPath, this.product, this.environment).connect();
        this.client = client;
        backoff = 50;
        await this.follow(client);
        this.forget(client.closed ? client.closed.message : 'the agent closed the connection');
      } catch (e) {
        this.forget(e.message);
        backoff = Math.min(backoff * 2, 5000);
      }
      this.client = null;
      if (this.stopped) break;
      await new Promise((resolve) => { this.wake = resolve; this.sleep = setTimeout(resolve, backoff); });
    }
  }

  // Resolves when the connection ends.
  follow(client) {
    return new Promise((resolve) => {
      let quiet;
      const end = () => { clearTimeout(quiet); resolve(); };
      // Quiet for a heartbeat: ask, or stop believing.
      const arm = () => {
        clearTimeout(quiet);
        quiet = setTimeout(() => {
          client.call('status').then((status) => { this.take(status, client); arm(); }, () => client.sock.destroy());
        }, this.heartbeat);
      };
      client.sock.on('close', end);
      if (client.closed || client.sock.destroyed) { end(); return; }
      client.subscribe((status) => { this.take(status, client); arm(); }).catch(() => client.sock.destroy());
    });
  }

  // With trusted keys, a "yes" counts once the signed file backs it (checked here, for this
  // machine), with the file's entitlements and end; a "no" needs no proof.
  take(status, client) {
    const s = status && typeof status === 'object' ? status : null;
    const turn = ++this.turn;
    const view = viewOf(s);
    if (!view.entitled || this.trustedKeys === undefined) {
      this.set(s, null, view);
      return;
    }
    const no = { entitled: false, entitlements: [], until: 0 };
    client.licenseFile().then((text) => {
      if (turn !== this.turn) return;
      if (text === null) throw new NotVerified('no_license_file', 'the agent holds no licence file');
      const p = verifyLicenseFile(text, this.trustedKeys, this.product, this.environment);
      const until = Math.min(view.until, ends({ offline_valid_until: p.expires_at, license_expires_at: p.license_expires_at }));
      this.set(s, null, { entitled: true, entitlements: [...p.entitlements], until });
    }).catch((e) => {
      if (turn !== this.turn) return;
      this.set(s, e instanceof NotVerified ? `not verified [${e.code}]: ${e.message}` : e.message, no);
    });
  }
}

// What a status says, unchecked: entitled, to what, until when (milliseconds since the epoch).
function viewOf(status) {
  if (!status || status.entitled !== true) return { entitled: false, entitlements: [], until: 0 };
  const entitlements = Array.isArray(status.entitlements) ? status.entitlements.filter((e) => typeof e === 'string') : [];
  return { entitled: true, entitlements, until: ends(status) };
}

class UnsafeEndpoint extends Error {
  constructor(code, message) {
    super(`refusing the licensing agent's socket: ${message}`);
    this.code = code;
  }
}

// Throws UnsafeEndpoint for a socket another user could have made, before anything is sent.
function checkEndpoint(socketPath) {
  const folder = path.dirname(path.resolve(socketPath));
  let st;
  // No folder: no agent (and nothing is connected to, so no one can slip one in meanwhile).
  st = fs.lstatSync(folder);
  if (!st.isDirectory()) throw new UnsafeEndpoint('endpoint_not_a_folder', `${folder} is not a folder`);
  if (st.uid !== process.getuid()) throw new UnsafeEndpoint('endpoint_not_owned', `${folder} belongs to user ${st.uid}, not to you`);
  if ((st.mode & 0o077) !== 0) throw new UnsafeEndpoint('endpoint_open_to_others', `${folder} is open to other users (mode ${(st.mode & 0o777).toString(8)})`);
  let sock;
  try { sock = fs.lstatSync(socketPath); } catch (e) { return; }
  if (sock.uid !== process.getuid()) throw new UnsafeEndpoint('endpoint_not_owned', `${socketPath} belongs to user ${sock.uid}, not to you`);
}

function defaultSocket(product, environment) {
  if (process.env.LICENTRIC_SOCKET) return process.env.LICENTRIC_SOCKET;
  let base;
  if (process.env.XDG_RUNTIME_DIR) base = path.join(process.env.XDG_RUNTIME_DIR, 'licentric');
  else if (process.platform === 'darwin') base = path.join(os.homedir(), 'Library/Caches/licentric');
  else if (process.env.HOME) base = path.join(process.env.HOME, '.cache', 'licentric');
  else base = path.join(os.tmpdir(), `licentric-${process.getuid()}`);
  return path.join(base, `${product}-${environment || 'live'}.sock`);
}

// Local verification of the signed documents (docs/license-file.md, docs/floating.md).
const LICENSE_FILE = { label: 'LICENTRIC LICENSE FILE', context: 'licentric.license-file.v1\n', limit: 16 * 1024 };
const LEASE = { label: 'LICENTRIC LEASE', context: 'licentric.lease.v1\n', limit: 8 * 1024 };
const FUTURE_TOLERANCE = 300 * 1000; // how far `issued_at` may be ahead of this machine's clock
const MAX_NAME_LEN = 128;
const MAX_NONCE_LEN = 128;
const MAX_ENTITLEMENTS = 256;
const LICENSE_MEMBERS = ['license_id', 'product_id', 'environment', 'machine_id', 'fingerprint', 'status',
  'entitlements', 'max_machines', 'license_expires_at', 'issued_at', 'expires_at', 'nonce'];
const LEASE_MEMBERS = ['lease_id', 'license_id', 'product_id', 'environment', 'fingerprint', 'entitlements',
  'max_seats', 'issued_at', 'expires_at', 'nonce'];
const REFUSED_STATUS = { suspended: 'license_suspended', revoked: 'license_revoked', expired: 'license_expired' };
const RFC3339 = /^(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(\.\d+)?(?:[Zz]|([+-])(\d\d):(\d\d))$/;
// Public keys of small order (and their other encodings, the sign bit aside): anything
// verifies under them, so they are never trusted (as ed25519-dalek's `is_weak`).
const SMALL_ORDER_KEYS = new Set([
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
]);

/** A signed document failed a check made here; `code` names the check (the Rust verifier's codes). */
class NotVerified extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const own = (object, name) => Object.prototype.hasOwnProperty.call(object, name);

function fromBase64Url(text) {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  const raw = Buffer.from(text, 'base64url');
  return raw.toString('base64url') === text ? raw : null;
}

// `text` without the space, tab, CR and LF around it (a loop: a regular expression anchored at
// the end costs time quadratic in the space).
function trimmed(text) {
  const space = (c) => c === ' ' || c === '\t' || c === '\r' || c === '\n';
  let start = 0;
  let end = text.length;
  while (start < end && space(text[start])) start++;
  while (end > start && space(text[end - 1])) end--;
  return text.slice(start, end);
}

// The bytes armoured under `label`, read by the rules of docs/license-file.md.
function dearmor(text, label) {
  const lines = trimmed(text).split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines.length < 2 || lines[0] !== `-----BEGIN ${label}-----` || lines[lines.length - 1] !== `-----END ${label}-----`) {
    throw new NotVerified('armor_invalid', `the text is not a ${label.toLowerCase()}`);
  }
  const body = lines.slice(1, -1).join('');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) throw new NotVerified('armor_invalid', "the armour's base64 is malformed");
  const raw = Buffer.from(body, 'base64');
  if (raw.toString('base64') !== body) throw new NotVerified('armor_invalid', "the armour's base64 is not canonical");
  return raw;
}

// Checks 1–5 of docs/license-file.md: armour, envelope, known key, signature, JSON object.
function open(text, kind, trustedKeys) {
  if (typeof text !== 'string' || Buffer.byteLength(text) > kind.limit) {
    throw new NotVerified('armor_invalid', `not a ${kind.label.toLowerCase()} of at most ${kind.limit} bytes`);
  }
  let envelope;
  try {
    envelope = fromJson(dearmor(text, kind.label));
  } catch (e) {
    if (e instanceof NotVerified) throw e;
    throw new NotVerified('envelope_invalid', 'the envelope is not JSON');
  }
  const members = ['v', 'alg', 'kid', 'payload', 'sig'];
  if (!envelope || typeof envelope !== 'object' || Array.isArray(envelope)
    || Object.keys(envelope).length !== members.length || !members.every((m) => own(envelope, m))) {
    throw new NotVerified('envelope_invalid', "the envelope's members are not v, alg, kid, payload, sig");
  }
  if (envelope.v !== 1 || envelope.alg !== 'ed25519') throw new NotVerified('envelope_invalid', 'an unsupported version or algorithm');
  if (typeof envelope.kid !== 'string') throw new NotVerified('envelope_invalid', 'kid is not text');
  const payloadBytes = fromBase64Url(envelope.payload);
  const signature = fromBase64Url(envelope.sig);
  if (payloadBytes === null || signature === null) throw new NotVerified('envelope_invalid', 'payload or sig is not base64url');
  if (signature.length !== 64) throw new NotVerified('envelope_invalid', 'sig is not 64 bytes');
  const key = trustedKey(trustedKeys, envelope.kid);
  let good = false;
  try {
    good = crypto.verify(null, Buffer.concat([Buffer.from(kind.context), payloadBytes]), key, signature);
  } catch { /* not a signature: refused below */ }
  if (!good) {
    throw new NotVerified('signature_invalid', "the signature does not verify with the vendor's key");
  }
  let payload;
  try {
    payload = fromJson(payloadBytes);
  } catch {
    throw new NotVerified('payload_invalid', 'the payload is not JSON');
  }
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) throw new NotVerified('payload_invalid', 'the payload is not an object');
  return payload;
}

// A JSON value from UTF-8 bytes, as strictly as the companion reads it: no other encoding, no
// byte-order mark (members twice JSON.parse cannot tell; they need the vendor's signature).
function fromJson(bytes) {
  return JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes));
}

// The trusted key `kid` names. Every key in the list must be one (64 hex characters, not of
// small order), as the companion's configuration requires.
function trustedKey(trustedKeys, kid) {
  const keys = [...trustedKeys].map((hex) => {
    if (typeof hex !== 'string' || !/^[0-9a-fA-F]{64}$/.test(hex)) throw new NotVerified('bad_trusted_key', 'a trusted key is not 64 hex characters');
    const raw = Buffer.from(hex, 'hex');
    const masked = Buffer.from(raw);
    masked[31] &= 0x7f;
    if (SMALL_ORDER_KEYS.has(masked.toString('hex'))) throw new NotVerified('bad_trusted_key', 'a trusted key is a weak (small-order) key');
    return raw;
  });
  for (const raw of keys) {
    const id = Buffer.from(crypto.createHash('sha256').update(raw).digest('hex').slice(0, 16));
    const claimed = Buffer.from(kid);
    if (claimed.length === id.length && crypto.timingSafeEqual(claimed, id)) {
      try {
        return crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
      } catch {
        throw new NotVerified('bad_trusted_key', 'a trusted key is not an Ed25519 public key');
      }
    }
  }
  throw new NotVerified('unknown_key_id', 'the document is signed by a key this app does not trust');
}

function names(payload, list, limit = MAX_NAME_LEN) {
  for (const name of list) {
    const value = payload[name];
    if (typeof value !== 'string' || value === '' || Buffer.byteLength(value) > limit) {
      throw new NotVerified('payload_invalid', `${name} is empty, too long or not text`);
    }
  }
}

// A list of strings; a licence file's also at most 256, each 1–128 bytes.
function entitlementsOf(payload, limited = true) {
  const values = payload.entitlements;
  if (!Array.isArray(values) || !values.every((e) => typeof e === 'string') || (limited && (values.length > MAX_ENTITLEMENTS
    || !values.every((e) => e !== '' && Buffer.byteLength(e) <= MAX_NAME_LEN)))) {
    throw new NotVerified('payload_invalid', 'entitlements are malformed');
  }
}

function count(payload, name, bits = 32) {
  const value = payload[name];
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** bits) throw new NotVerified('payload_invalid', `${name} is not a count`);
}

// An RFC 3339 time in milliseconds since the epoch, or NaN (a date or hour that does not
// exist is not one; a leap second is the next second's start, as the companion reads it).
function rfc3339(text) {
  const m = typeof text === 'string' ? RFC3339.exec(text) : null;
  if (!m) return NaN;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const utc = Date.UTC(year, month - 1, day, hour, minute, Math.min(second, 59));
  const back = new Date(utc);
  if (year < 1 || back.getUTCFullYear() !== year || back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day
    || hour > 23 || minute > 59 || second > 60) return NaN;
  const offset = m[8] === undefined ? 0 : (m[8] === '+' ? 1 : -1) * (Number(m[9]) * 60 + Number(m[10])) * 60000;
  return utc - offset + (second === 60 ? 1000 : 0) + Math.floor(Number(m[7] || 0) * 1000);
}

function instant(payload, name, optional = false) {
  const value = payload[name];
  if (value === null && optional) return null;
  const ms = rfc3339(value);
  if (Number.isNaN(ms)) throw new NotVerified('payload_invalid', `${name} is not an RFC 3339 time`);
  return ms;
}

// `check`, any failure of its own on input it was not written for a NotVerified too: an app
// that asks whether it is licensed gets "no" and why, never another exception.
function onlyNotVerified(check) {
  return (...args) => {
    try {
      return check(...args);
    } catch (e) {
      if (e instanceof NotVerified) throw e;
      throw new NotVerified('document_invalid', `the document cannot be checked (${e && e.name})`);
    }
  };
}

function members(payload, required, optional) {
  const keys = Object.keys(payload);
  if (!required.every((m) => own(payload, m)) || !keys.every((k) => required.includes(k) || optional.includes(k))) {
    throw new NotVerified('payload_invalid', "the payload's members are not the document's");
  }
}

// The document's `issued_at` and `expires_at` (milliseconds), the second after the first.
function period(payload) {
  const issuedAt = instant(payload, 'issued_at');
  const expiresAt = instant(payload, 'expires_at');
  if (expiresAt <= issuedAt) throw new NotVerified('payload_invalid', 'expires_at is not after issued_at');
  return [issuedAt, expiresAt];
}

// Checks 6–10: this product, this environment, this machine, not issued in the future.
function bound(payload, issuedAt, product, environment, fingerprint, now) {
  if (payload.product_id !== product) throw new NotVerified('product_mismatch', `the document is for product ${JSON.stringify(payload.product_id)}, not ${JSON.stringify(product)}`);
  if (payload.environment !== environment) throw new NotVerified('environment_mismatch', `the document is for the ${payload.environment} environment, not ${environment}`);
  const found = Buffer.from(payload.fingerprint);
  const ours = Buffer.from(fingerprint);
  if (found.length !== ours.length || !crypto.timingSafeEqual(found, ours)) throw new NotVerified('fingerprint_mismatch', 'the document is bound to another machine');
  if (issuedAt > now + FUTURE_TOLERANCE) throw new NotVerified('issued_in_future', "the document was issued ahead of this machine's clock");
}

/**
 * Verifies a licence file as the companion does (checks 1–11, 13 and 14 of
 * docs/license-file.md; the clock guard is the agent's): signed by one of `trustedKeys`, for
 * `product` in `environment`, bound to this machine (`fingerprint`, computed here by default),
 * within its offline period and active by this process's clock (`now`, milliseconds). Returns
 * the payload; throws NotVerified.
 */
const verifyLicenseFile = onlyNotVerified((text, trustedKeys, product, environment, { fingerprint, now = Date.now() } = {}) => {
  const machine = fingerprint === undefined ? machineFingerprint(product, environment) : fingerprint;
  const payload = open(text, LICENSE_FILE, trustedKeys);
  members(payload, LICENSE_MEMBERS.filter((m) => m !== 'nonce'), ['nonce', 'check_interval']);
  if (!own(payload, 'nonce')) payload.nonce = null;
  names(payload, ['license_id', 'machine_id']);
  if (typeof payload.product_id !== 'string') throw new NotVerified('payload_invalid', 'product_id is not text');
  if (typeof payload.fingerprint !== 'string' || !/^[0-9a-f]{64}$/.test(payload.fingerprint)) {
    throw new NotVerified('payload_invalid', 'fingerprint is not 64 lower-case hex characters');
  }
  if (!['test', 'live'].includes(payload.environment) || !['active', ...Object.keys(REFUSED_STATUS)].includes(payload.status)) {
    throw new NotVerified('payload_invalid', 'environment or status is not a known value');
  }
  entitlementsOf(payload);
  count(payload, 'max_machines');
  if (own(payload, 'check_interval') && payload.check_interval !== null) count(payload, 'check_interval', 64);
  if (payload.nonce !== null) names(payload, ['nonce'], MAX_NONCE_LEN);
  const [issuedAt, expiresAt] = period(payload);
  const licenseExpiresAt = instant(payload, 'license_expires_at', true);
  bound(payload, issuedAt, product, environment, machine, now);
  if (now >= expiresAt) throw new NotVerified('file_expired', `the offline period ended at ${payload.expires_at}`);
  if (payload.status !== 'active') throw new NotVerified(REFUSED_STATUS[payload.status], `the licence is ${payload.status}`);
  if (licenseExpiresAt !== null && now >= licenseExpiresAt) throw new NotVerified('license_expiry_reached', `the licence ended at ${payload.license_expires_at}`);
  return payload;
});

/**
 * Verifies a floating licence's seat (the `lease_file` a checkout answers) as
 * `licentric_client::verify::check_lease` does: signed by one of `trustedKeys`, for `product`
 * in `environment`, bound to this machine, not run out by this process's clock. Returns the
 * payload; throws NotVerified.
 */
const verifyLease = onlyNotVerified((text, trustedKeys, product, environment, { fingerprint, now = Date.now() } = {}) => {
  const machine = fingerprint === undefined ? machineFingerprint(product, environment) : fingerprint;
  const payload = open(text, LEASE, trustedKeys);
  members(payload, LEASE_MEMBERS, ['label', 'borrowed', 'per_process', 'kept_to_end']);
  names(payload, ['lease_id', 'license_id']);
  names(payload, ['nonce'], MAX_NONCE_LEN);
  if (typeof payload.product_id !== 'string' || typeof payload.fingerprint !== 'string' || !['test', 'live'].includes(payload.environment)) {
    throw new NotVerified('payload_invalid', 'product_id, fingerprint or environment is malformed');
  }
  if (own(payload, 'label') && payload.label !== null && typeof payload.label !== 'string') throw new NotVerified('payload_invalid', 'label is not text');
  if (!['borrowed', 'per_process', 'kept_to_end'].every((f) => !own(payload, f) || typeof payload[f] === 'boolean')) {
    throw new NotVerified('payload_invalid', 'a flag is not true or false');
  }
  entitlementsOf(payload, false);
  count(payload, 'max_seats');
  const [issuedAt, expiresAt] = period(payload);
  bound(payload, issuedAt, product, environment, machine, now);
  if (now >= expiresAt) throw new NotVerified('file_expired', `the seat ran out at ${payload.expires_at}`);
  return payload;
});

const MACHINE_ID_PATHS = ['/etc/machine-id', '/var/lib/dbus/machine-id'];
const HOST_ID_PATH = '/etc/licentric/host-id';

/**
 * This machine's fingerprint for `product` (docs/fingerprint.md), computed here:
 * hex(HMAC-SHA256(key = the machine id, msg = "licentric.fingerprint.v1:" + product)).
 * `LICENTRIC_MACHINE_ID` replaces the machine id in the test environment only.
 */
function machineFingerprint(product, environment) {
  let id = null;
  if (environment === 'test' && process.env.LICENTRIC_MACHINE_ID) id = machineIdText(process.env.LICENTRIC_MACHINE_ID);
  if (id === null) {
    try {
      id = platformMachineId();
    } catch (e) {
      throw new NotVerified('machine_id_unavailable', `this machine's id cannot be read (${e.message})`);
    }
  }
  if (id === null) throw new NotVerified('machine_id_unavailable', "this machine's id cannot be read");
  return crypto.createHmac('sha256', id).update(`licentric.fingerprint.v1:${product}`).digest('hex');
}

// Trimmed and lower-cased, as the companion reads it; null if it is not a machine id.
function machineIdText(text) {
  const value = String(text).trim().toLowerCase();
  const ok = value.length > 0 && value.length <= 256 && /^[0-9a-z{}-]+$/.test(value) && /[1-9a-z]/.test(value);
  return ok ? value : null;
}

function readText(file) {
  try { return fs.readFileSync(file, 'utf8').slice(0, 4096); } catch { return null; }
}

function platformMachineId() {
  const { execFileSync } = require('node:child_process');
  if (process.platform === 'darwin') {
    const out = execFileSync('/usr/sbin/ioreg', ['-rd1', '-c', 'IOPlatformExpertDevice'], { encoding: 'utf8' });
    const found = /"IOPlatformUUID"\s*=\s*"([^"]+)"/.exec(out);
    return found ? machineIdText(found[1]) : null;
  }
  if (process.platform === 'win32') {
    const out = execFileSync('reg', ['query', 'HKLM\\SOFTWARE\\Microsoft\\Cryptography', '/v', 'MachineGuid', '/reg:64'], { encoding: 'utf8' });
    const found = /MachineGuid\s+REG_SZ\s+(\S+)/.exec(out);
    return found ? machineIdText(found[1]) : null;
  }
  if (inContainer()) {
    try {
      const st = fs.statSync(HOST_ID_PATH);
      if (st.isFile() && st.uid === 0 && (st.mode & 0o022) === 0) {
        const host = machineIdText(readText(HOST_ID_PATH) || '');
        if (host !== null) return host;
      }
    } catch { /* no host id: the machine's own */ }
  }
  for (const file of MACHINE_ID_PATHS) {
    const found = machineIdText(readText(file) || '');
    if (found !== null) return found;
  }
  return null;
}

// As the companion decides it (crates/licentric-platform, `virtualization`).
function inContainer() {
  if (fs.existsSync('/.dockerenv') || fs.existsSync('/run/.containerenv')) return true;
  try {
    const environ = fs.readFileSync('/proc/1/environ', 'latin1').split('\0');
    if (environ.some((v) => v.startsWith('container=') && v.length > 10)) return true;
  } catch { /* not readable: not known */ }
  const cgroup = readText('/proc/1/cgroup') || '';
  return ['kubepods', 'docker', 'lxc'].some((mark) => cgroup.includes(mark));
}

async function main() {
  const args = process.argv.slice(2);
  let socketPath; let product = 'acme-cad'; let environment = 'live'; let timeout;
  const trustedKeys = [];
  const rest = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--socket') socketPath = args[++i];
    else if (args[i] === '--product') product = args[++i];
    else if (args[i] === '--environment') environment = args[++i];
    else if (args[i] === '--timeout') timeout = Number(args[++i]) * 1000;
    else if (args[i] === '--trusted-key') trustedKeys.push(args[++i]);
    else rest.push(args[i]);
  }
  const [command, code] = rest;
  if (command === 'has_entitlement' && !code) {
    console.error('usage: has_entitlement needs the entitlement\'s CODE');
    return 2;
  }
  let client;
  try {
    client = await new Client(socketPath || defaultSocket(product, environment), product, environment, timeout).connect();
  } catch (e) {
    if (e instanceof UnsafeEndpoint) {
      console.error(`error [${e.code}]: ${e.message}`);
      return 1;
    }
    console.error(`the licensing agent is not running (${e.message})`);
    return 4;
  }
  try {
    if (trustedKeys.length > 0) {
      try {
        const licence = await client.verifiedLicense(trustedKeys, command === 'has_entitlement' ? code || '' : undefined);
        console.log(`verified here: ${licence.status} until ${licence.expires_at}, entitlements: ${licence.entitlements.join(', ') || '-'}`);
        return 0;
      } catch (e) {
        if (!(e instanceof NotVerified)) throw e;
        console.error(`not verified [${e.code}]: ${e.message}`);
        return 3;
      }
    }
    if (command === 'has_entitlement') {
      const entitled = await client.hasEntitlement(code || '');
      console.log(`${code}: entitled: ${entitled}`);
      return entitled ? 0 : 3;
    }
    const status = await client.call('status');
    if (!status || typeof status !== 'object') throw new AgentError('malformed_answer', 'a malformed answer');
    const entitled = status.entitled === true;
    const entitlements = Array.isArray(status.entitlements) ? status.entitlements.filter((e) => typeof e === 'string') : [];
    console.log(`state: ${status.state}, entitled: ${entitled}, entitlements: ${entitlements.join(', ') || '-'}`);
    return entitled ? 0 : 3;
  } catch (e) {
    console.error(`error [${e.code}]: ${e.message}`);
    return 1;
  } finally {
    client.close();
  }
}

module.exports = {
  Client, Watcher, AgentError, UnsafeEndpoint, NotVerified, defaultSocket, checkEndpoint, withSeat,
  verifyLicenseFile, verifyLease, machineFingerprint, LICENSE_FILE, LEASE,
};

if (require.main === module) {
  // Any failure not caught above is a failure, never "entitled".
  main().then((code) => process.exit(code), (e) => { console.error(`error: ${e.message}`); process.exit(1); });
}
