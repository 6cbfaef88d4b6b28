// pglite_server.mjs: the PGlite-in-Node peer of `pgthaw bench`, a tiny HTTP
// server (node:http, no other dependency than @electric-sql/pglite) whose
// endpoints mirror pgthaw's roles just enough for the runner:
//   GET  /ping                 {ok: true}
//   GET  /status               {pid, version, tenants, warm}
//   POST /query {sql, tenant}  with tenant: that tenant's own PGlite (dataDir
//                              on disk, created on first use, reopened after
//                              /hibernate); without: ONE module-level
//                              in-memory PGlite created on first use (the
//                              seed's warm-proxy Worker)
//   POST /cold {sql}           a brand-new PGlite on a fresh dir, the query,
//                              close, dir removed (the seed's "new instance")
//   POST /hibernate {tenant}   close that tenant's PGlite, keep its dir
// Replies: {rows, rowCount, timings: {totalUs, cold, coldKind}} or
// {error: {message}} with status 400/500. Requests to one PGlite queue
// inside PGlite itself.
//
// Usage: node pglite_server.mjs --port N --data-dir DIR [--node-modules DIR]
// Prints "pglite_server: listening on 127.0.0.1:N" on stdout when ready.

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

function fail(message) {
  process.stderr.write(`pglite_server: ${message}\n`);
  process.exit(1);
}

const args = { port: 0, data_dir: null, node_modules: null };
{
  const script_dir = path.dirname(fileURLToPath(import.meta.url));
  args.node_modules = path.resolve(script_dir, 'node_modules');
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port' && i + 1 < argv.length) args.port = Number(argv[++i]);
    else if (argv[i] === '--data-dir' && i + 1 < argv.length) args.data_dir = path.resolve(argv[++i]);
    else if (argv[i] === '--node-modules' && i + 1 < argv.length) args.node_modules = path.resolve(argv[++i]);
    else fail(`unexpected argument '${argv[i]}'`);
  }
  if (!args.data_dir) fail('--data-dir is required');
}

const pkg_dir = path.join(args.node_modules, '@electric-sql', 'pglite');
const pkg = JSON.parse(fs.readFileSync(path.join(pkg_dir, 'package.json'), 'utf8'));
const { PGlite } = await import(pathToFileURL(path.join(pkg_dir, 'dist', 'index.js')).href);

fs.mkdirSync(path.join(args.data_dir, 'tenants'), { recursive: true });
fs.mkdirSync(path.join(args.data_dir, 'cold'), { recursive: true });

const tenants = new Map();  // id -> Promise<PGlite>
let warm = null;            // Promise<PGlite>, the module-level instance
let cold_seq = 0;

function us_since(t0) {
  return Math.round(Number(process.hrtime.bigint() - t0) / 1000);
}

// Simple protocol, several statements allowed, the last one's result
// returned (as pgthaw's /query without params).
async function run(db, sql) {
  const results = await db.exec(sql);
  const res = results[results.length - 1] ?? { rows: [] };
  return { rows: res.rows.map((r) => Object.values(r).map((v) => (v === null ? null : String(v)))),
           rowCount: res.rows.length };
}

async function handle(route, body) {
  const t0 = process.hrtime.bigint();
  if (route === '/cold') {
    const dir = path.join(args.data_dir, 'cold', `c${++cold_seq}`);
    const db = await PGlite.create(dir);
    const out = await run(db, body.sql);
    await db.close();
    fs.rmSync(dir, { recursive: true, force: true });
    return { ...out, timings: { totalUs: us_since(t0), cold: true, coldKind: 'created' } };
  }
  if (route === '/hibernate') {
    const p = tenants.get(body.tenant);
    if (p) {
      tenants.delete(body.tenant);
      await (await p).close();
    }
    return { ok: true, hibernated: Boolean(p) };
  }
  if (route === '/query') {
    let cold = false;
    let kind = '';
    let p;
    if (body.tenant === undefined) {
      if (!warm) {
        warm = PGlite.create();
        cold = true;
        kind = 'created';
      }
      p = warm;
    } else {
      if (!/^[A-Za-z0-9_-]{1,63}$/.test(body.tenant)) throw Object.assign(new Error('bad tenant'), { status: 400 });
      p = tenants.get(body.tenant);
      if (!p) {
        const dir = path.join(args.data_dir, 'tenants', body.tenant);
        kind = fs.existsSync(dir) ? 'thawed' : 'created';
        cold = true;
        p = PGlite.create(dir);
        tenants.set(body.tenant, p);
      }
    }
    const out = await run(await p, body.sql);
    return { ...out, timings: { totalUs: us_since(t0), cold, coldKind: kind } };
  }
  throw Object.assign(new Error(`no route ${route}`), { status: 404 });
}

const server = http.createServer((req, res) => {
  const reply = (status, obj) => {
    const text = JSON.stringify(obj);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  if (req.method === 'GET' && req.url === '/ping') return reply(200, { ok: true });
  if (req.method === 'GET' && req.url === '/status') {
    return reply(200, { pid: process.pid, version: pkg.version, node: process.version,
                        tenants: tenants.size, warm: warm !== null });
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    } catch (e) {
      return reply(400, { error: { message: `bad JSON: ${e.message}` } });
    }
    handle(req.url, body).then(
      (out) => reply(200, out),
      (e) => reply(e.status ?? 500, { error: { message: String(e.message ?? e) } }));
  });
});
server.keepAliveTimeout = 120000;
server.listen(args.port, '127.0.0.1', () => {
  process.stdout.write(`pglite_server: listening on 127.0.0.1:${server.address().port}\n`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
