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
'use strict';
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

  /**
   * A seat of a floating licence, held while this connection stays open ({expires_at,
   * seats_in_use, max_seats, entitlements}); give it back with `release()` or by closing. If
   * the app dies, its connection closes and the agent gives the seat back at once. Every
   * seat held rejects with code `server_rejected` (reason `no_seat_available`).
   */
  async checkout(entitlement) {
    return this.call('checkout', entitlement === undefined ? {} : { entitlement });
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
async function withSeat(socketPath, product, environment, { entitlement, timeout } = {}, use) {
  const client = await new Client(socketPath, product, environment, timeout).connect();
  try {
    const seat = await client.checkout(entitlement);
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
    const t = Date.parse(status[key]);
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
  constructor(socketPath, product, environment, { heartbeat = 30000 } = {}) {
    Object.assign(this, { socketPath, product, environment, heartbeat });
    this.status = null; // null: unknown
    this.reason = 'not connected yet';
    this.stopped = false;
    this.client = null;
    this.listeners = new Set();
    this.run();
  }

  isEntitled() {
    const s = this.status;
    return !!s && s.entitled === true && Date.now() < ends(s);
  }

  hasEntitlement(code) {
    const s = this.status;
    return this.isEntitled() && Array.isArray(s.entitlements) && s.entitlements.includes(code);
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

  set(status, reason) {
    if (JSON.stringify([status, reason]) === JSON.stringify([this.status, this.reason])) return;
    this.status = status;
    this.reason = reason;
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
        this.set(null, client.closed ? client.closed.message : 'the agent closed the connection');
      } catch (e) {
        this.set(null, e.message);
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
          client.call('status').then((status) => { this.take(status); arm(); }, () => client.sock.destroy());
        }, this.heartbeat);
      };
      client.sock.on('close', end);
      if (client.closed || client.sock.destroyed) { end(); return; }
      client.subscribe((status) => { this.take(status); arm(); }).catch(() => client.sock.destroy());
    });
  }

  take(status) {
    this.set(status && typeof status === 'object' ? status : null, null);
  }
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

async function main() {
  const args = process.argv.slice(2);
  let socketPath; let product = 'acme-cad'; let environment = 'live'; let timeout;
  const rest = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--socket') socketPath = args[++i];
    else if (args[i] === '--product') product = args[++i];
    else if (args[i] === '--environment') environment = args[++i];
    else if (args[i] === '--timeout') timeout = Number(args[++i]) * 1000;
    else rest.push(args[i]);
  }
  const [command, code] = rest;
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

module.exports = { Client, Watcher, AgentError, UnsafeEndpoint, defaultSocket, checkEndpoint, withSeat };

if (require.main === module) {
  // Any failure not caught above is a failure, never "entitled".
  main().then((code) => process.exit(code), (e) => { console.error(`error: ${e.message}`); process.exit(1); });
}
