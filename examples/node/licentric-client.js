#!/usr/bin/env node
// Ask the Licentric companion about this machine's licence — Node.js standard library only.
//
//   node licentric-client.js [--socket PATH] [--product ID] [--environment live|test] status
//   node licentric-client.js [--socket PATH] [--product ID] [--environment live|test] has_entitlement CODE
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

class Client {
  // With `product` and `environment`, an agent that serves another is refused (a sandbox
  // agent where the live one should be).
  constructor(socketPath, product, environment) {
    this.socketPath = socketPath;
    this.product = product;
    this.environment = environment;
    this.nextId = 1;
    this.waiting = new Map();
    this.buffer = '';
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
      this.sock.on('error', reject);
      this.sock.on('data', (chunk) => this.onData(chunk));
    });
  }

  onData(chunk) {
    this.buffer += chunk.toString('utf8');
    if (this.buffer.length > 64 * 1024 && !this.buffer.includes('\n')) { this.sock.destroy(); return; }
    let newline;
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, newline);
      this.buffer = this.buffer.slice(newline + 1);
      if (!line.trim()) continue;
      const message = JSON.parse(line);
      const pending = this.waiting.get(message.id);
      if (!pending) continue; // a notification, or an answer nobody waits for
      this.waiting.delete(message.id);
      if (message.error) {
        const error = new Error(message.error.message);
        error.code = message.error.data && message.error.data.code;
        pending.reject(error);
      } else {
        pending.resolve(message.result);
      }
    }
  }

  call(method, params) {
    const id = this.nextId++;
    const request = { jsonrpc: '2.0', id, method };
    if (params !== undefined) request.params = params;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.sock.write(JSON.stringify(request) + '\n');
    });
  }

  close() { this.sock.end(); }
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
  let socketPath; let product = 'acme-cad'; let environment = 'live';
  const rest = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--socket') socketPath = args[++i];
    else if (args[i] === '--product') product = args[++i];
    else if (args[i] === '--environment') environment = args[++i];
    else rest.push(args[i]);
  }
  const [command, code] = rest;
  let client;
  try {
    client = await new Client(socketPath || defaultSocket(product, environment), product, environment).connect();
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
      const result = await client.call('has_entitlement', { code: code || '' });
      console.log(`${code}: entitled: ${result.entitled}`);
      return result.entitled ? 0 : 3;
    }
    const status = await client.call('status');
    console.log(`state: ${status.state}, entitled: ${status.entitled}, entitlements: ${status.entitlements.join(', ') || '-'}`);
    return status.entitled ? 0 : 3;
  } catch (e) {
    console.error(`error [${e.code}]: ${e.message}`);
    return 1;
  } finally {
    client.close();
  }
}

main().then((code) => process.exit(code));
