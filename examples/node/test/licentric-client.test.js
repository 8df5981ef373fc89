// Tests of the Node client that need no agent: the socket path rule, the checks made before
// anything is sent, and failing closed. (Against a real agent, and a misbehaving one, it is
// tested by the Rust end-to-end tests in tests/e2e.) Run: npm test (or node --test test/).
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { Client, Watcher, UnsafeEndpoint, defaultSocket, checkEndpoint, withSeat } = require('../licentric-client.js');

function withEnv(env, f) {
  const saved = { ...process.env };
  for (const k of Object.keys(process.env)) delete process.env[k];
  Object.assign(process.env, env);
  try { return f(); } finally {
    for (const k of Object.keys(process.env)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

test('the socket path follows the design', () => {
  withEnv({ XDG_RUNTIME_DIR: '/run/user/1000', HOME: '/home/ada' }, () => {
    assert.strictEqual(defaultSocket('acme-cad', 'live'), '/run/user/1000/licentric/acme-cad-live.sock');
  });
  withEnv({ LICENTRIC_SOCKET: '/x/y.sock' }, () => assert.strictEqual(defaultSocket('acme-cad', 'live'), '/x/y.sock'));
  if (process.platform === 'linux') {
    withEnv({ HOME: '/home/ada' }, () => {
      assert.strictEqual(defaultSocket('acme-cad', 'test'), '/home/ada/.cache/licentric/acme-cad-test.sock');
    });
  }
});

test('a folder open to others, or a link, is refused before anything is sent', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'licentric-node-'));
  const open = path.join(tmp, 'open');
  fs.mkdirSync(open);
  fs.chmodSync(open, 0o777);
  assert.throws(() => checkEndpoint(path.join(open, 's.sock')), (e) => e instanceof UnsafeEndpoint && e.code === 'endpoint_open_to_others');
  const real = path.join(tmp, 'real');
  fs.mkdirSync(real, { mode: 0o700 });
  fs.symlinkSync(real, path.join(tmp, 'link'));
  assert.throws(() => checkEndpoint(path.join(tmp, 'link', 's.sock')), (e) => e.code === 'endpoint_not_a_folder');
  assert.throws(() => checkEndpoint(path.join(tmp, 'nothing', 's.sock')), (e) => e.code === 'ENOENT');
  fs.rmSync(tmp, { recursive: true });
});

test('an agent that hangs up is not entitled', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'licentric-node-'));
  fs.chmodSync(tmp, 0o700);
  const socketPath = path.join(tmp, 's.sock');
  const server = net.createServer((conn) => {
    conn.once('data', () => {
      conn.write('{"jsonrpc":"2.0","id":1,"result":{"protocol":1,"product_id":"p","environment":"test"}}\n');
      conn.once('data', () => conn.destroy());
    });
  });
  await new Promise((resolve) => server.listen(socketPath, resolve));
  const client = await new Client(socketPath, 'p', 'test', 1000).connect();
  await assert.rejects(client.hasEntitlement('pro'), (e) => e.code === 'io_error');
  server.close();
  fs.rmSync(tmp, { recursive: true });
});

// Resolves when `what(watcher)` holds (on the watcher's own change signal), or fails after 5 s.
function until(watcher, what) {
  return new Promise((resolve, reject) => {
    if (what(watcher)) { resolve(); return; }
    const timer = setTimeout(() => { stop(); reject(new Error(`never: ${JSON.stringify(watcher.status)} ${watcher.reason}`)); }, 5000);
    const stop = watcher.onChange(() => { if (what(watcher)) { clearTimeout(timer); stop(); resolve(); } });
  });
}

test('a watcher follows pushes and never keeps a stale yes', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'licentric-node-'));
  fs.chmodSync(tmp, 0o700);
  const socketPath = path.join(tmp, 's.sock');
  const licensed = { state: 'active', entitled: true, entitlements: ['pro'], offline_valid_until: '2999-01-01T00:00:00Z' };
  const connections = [];
  let statusForNext = licensed;
  const server = net.createServer((conn) => {
    connections.push(conn);
    const status = statusForNext;
    let buffer = '';
    conn.on('data', (chunk) => {
      buffer += chunk;
      let newline;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const request = JSON.parse(buffer.slice(0, newline));
        buffer = buffer.slice(newline + 1);
        const result = request.method === 'version' ? { protocol: 1, product_id: 'p', environment: 'test' } : { status };
        conn.write(JSON.stringify({ jsonrpc: '2.0', id: request.id, result }) + '\n');
      }
    });
  });
  await new Promise((resolve) => server.listen(socketPath, resolve));
  const watcher = new Watcher(socketPath, 'p', 'test');
  try {
    await until(watcher, (w) => w.isEntitled());
    assert.ok(watcher.hasEntitlement('pro'));
    assert.ok(!watcher.hasEntitlement('export-pdf'));
    // A push.
    connections[0].write(JSON.stringify({ jsonrpc: '2.0', method: 'status_changed', params: { ...licensed, entitlements: ['pro', 'export-pdf'] } }) + '\n');
    await until(watcher, (w) => w.hasEntitlement('export-pdf'));
    // The agent hangs up: unknown, and no, straight away; it comes back suspended.
    statusForNext = { ...licensed, entitled: false, state: 'suspended' };
    connections[0].destroy();
    await until(watcher, (w) => w.status === null);
    assert.ok(!watcher.isEntitled());
    await until(watcher, (w) => w.status !== null);
    assert.strictEqual(watcher.status.state, 'suspended');
    assert.ok(!watcher.isEntitled());
  } finally {
    watcher.close();
    for (const conn of connections) conn.destroy();
    server.close();
    fs.rmSync(tmp, { recursive: true });
  }
});

test('a yes ends with the offline period', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'licentric-node-'));
  fs.chmodSync(tmp, 0o700);
  const socketPath = path.join(tmp, 's.sock');
  const ended = { state: 'active', entitled: true, entitlements: ['pro'], offline_valid_until: '2001-01-01T00:00:00Z' };
  const server = net.createServer((conn) => {
    conn.on('data', (chunk) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        const request = JSON.parse(line);
        const result = request.method === 'version' ? { protocol: 1, product_id: 'p', environment: 'test' } : { status: ended };
        conn.write(JSON.stringify({ jsonrpc: '2.0', id: request.id, result }) + '\n');
      }
    });
  });
  await new Promise((resolve) => server.listen(socketPath, resolve));
  const watcher = new Watcher(socketPath, 'p', 'test');
  try {
    await until(watcher, (w) => w.status !== null);
    assert.ok(!watcher.isEntitled() && !watcher.hasEntitlement('pro'));
  } finally {
    watcher.close();
    server.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('a seat is given back when its work ends, even when it throws', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'licentric-node-'));
  fs.chmodSync(tmp, 0o700);
  const socketPath = path.join(tmp, 's.sock');
  const asked = [];
  let closed;
  const ended = new Promise((resolve) => { closed = resolve; });
  const results = {
    version: { protocol: 1, product_id: 'p', environment: 'test' },
    checkout: { expires_at: '2999-01-01T00:15:00Z', seats_in_use: 3, max_seats: 10, entitlements: ['pro'] },
    release: { released: true },
  };
  const server = net.createServer((conn) => {
    let buffer = '';
    conn.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      let newline;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const request = JSON.parse(buffer.slice(0, newline));
        buffer = buffer.slice(newline + 1);
        asked.push([request.method, request.params]);
        conn.write(JSON.stringify({ jsonrpc: '2.0', id: request.id, result: results[request.method] }) + '\n');
      }
    });
    conn.on('end', () => { conn.end(); closed(); });
  });
  await new Promise((resolve) => server.listen(socketPath, resolve));
  await assert.rejects(
    withSeat(socketPath, 'p', 'test', { entitlement: 'pro' }, async (seat) => {
      assert.deepStrictEqual([seat.seats_in_use, seat.max_seats, seat.entitlements], [3, 10, ['pro']]);
      throw new Error('the work failed');
    }),
    /the work failed/,
  );
  await ended;
  assert.deepStrictEqual(asked, [['version', undefined], ['checkout', { entitlement: 'pro' }], ['release', undefined]]);
  server.close();
  fs.rmSync(tmp, { recursive: true });
});
