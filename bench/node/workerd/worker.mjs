// worker.mjs: the "PGlite 0.5.16 in workerd" peer of `pgthaw bench`, run by
// `wrangler dev --local` (see README.md). Endpoints mirror
// ../pglite_server.mjs where they apply:
//   GET  /ping                 {ok: true}          (Worker only, no PGlite)
//   GET  /status               {version, warm}
//   POST /query {sql, tenant}  with tenant: the Durable Object named tenant,
//                              one in-memory PGlite per DO, created on its
//                              first request; without: ONE module-level
//                              PGlite in the Worker isolate (the seed's
//                              warm-proxy Worker)
//   POST /cold {sql}           a brand-new DO (newUniqueId) and its PGlite
// Replies: {rows, rowCount, timings: {totalUs, cold, coldKind}} or
// {error: {message}}. totalUs is Date.now()-based and therefore coarse in
// workerd (its clock only advances across I/O); the runner times the HTTP
// round trip itself.
//
// Local workerd refuses to compile wasm at run time. PGlite does so for
// Emscripten's addFunction callback wrappers and for plpgsql.so /
// dict_snowball.so during initdb: precompile.mjs captures those byte strings
// in Node and writes them to precompiled/, which wrangler bundles as
// CompiledWasm modules; the patch below serves them by a hash of the bytes.
import { precompiled } from './precompiled/index.mjs';
import { wasmKey } from './wasm_hash.mjs';
import pgliteWasm from '../node_modules/@electric-sql/pglite/dist/pglite.wasm';
import initdbWasm from '../node_modules/@electric-sql/pglite/dist/initdb.wasm';
import pgliteData from '../node_modules/@electric-sql/pglite/dist/pglite.data';

const W = globalThis.WebAssembly;
const OrigModule = W.Module;
const origCompile = W.compile;
const origInstantiate = W.instantiate;
function isBytes(x) {
  return x instanceof ArrayBuffer || ArrayBuffer.isView(x);
}
function lookup(bytes) {
  const m = precompiled.get(wasmKey(bytes));
  if (!m) {
    throw new Error(`wasm byte string ${wasmKey(bytes)} was not precompiled (rerun precompile.mjs)`);
  }
  return m;
}
W.Module = new Proxy(OrigModule, {
  construct(target, args, newTarget) {
    if (isBytes(args[0])) return lookup(args[0]);
    return Reflect.construct(target, args, newTarget);
  },
});
W.compile = async function (bytes, ...rest) {
  if (isBytes(bytes)) return lookup(bytes);
  return origCompile.call(W, bytes, ...rest);
};
W.instantiate = async function (src, imports) {
  if (isBytes(src)) {
    const module = lookup(src);
    return { module, instance: await origInstantiate.call(W, module, imports) };
  }
  return origInstantiate.call(W, src, imports);
};

// Imported after the patch (static imports are hoisted, but PGlite only
// compiles inside PGlite.create()).
const { PGlite } = await import('@electric-sql/pglite');
const PGLITE_VERSION = '0.5.16';

function newPglite() {
  return PGlite.create({
    pgliteWasmModule: pgliteWasm,
    initdbWasmModule: initdbWasm,
    fsBundle: new Blob([pgliteData]),
  });
}

async function run(db, sql) {
  const results = await db.exec(sql);
  const res = results[results.length - 1] ?? { rows: [] };
  return { rows: res.rows.map((r) => Object.values(r).map((v) => (v === null ? null : String(v)))),
           rowCount: res.rows.length };
}

function json(status, obj) {
  return new Response(JSON.stringify(obj), { status, headers: { 'content-type': 'application/json' } });
}

async function answer(fn) {
  try {
    return json(200, await fn());
  } catch (e) {
    return json(e.status ?? 500, { error: { message: String(e?.stack ?? e?.message ?? e) } });
  }
}

// One PGlite per Durable Object, in memory, created on the DO's first query.
export class PgliteDO {
  constructor(state, env) {
    this.db = null;
  }
  async fetch(request) {
    const body = await request.json();
    return answer(async () => {
      const t0 = Date.now();
      let cold = false;
      if (!this.db) {
        this.db = newPglite();
        cold = true;
      }
      const out = await run(await this.db, body.sql);
      return { ...out, timings: { totalUs: (Date.now() - t0) * 1000, cold, coldKind: cold ? 'created' : '' } };
    });
  }
}

let warm = null;  // Promise<PGlite>, the module-level instance

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (request.method === 'GET' && url.pathname === '/ping') return json(200, { ok: true });
    if (request.method === 'GET' && url.pathname === '/status') {
      return json(200, { version: PGLITE_VERSION, warm: warm !== null });
    }
    if (request.method !== 'POST') return json(404, { error: { message: `no route ${url.pathname}` } });
    const text = await request.text();
    let body;
    try {
      body = JSON.parse(text || '{}');
    } catch (e) {
      return json(400, { error: { message: `bad JSON: ${e.message}` } });
    }
    if (url.pathname === '/cold') {
      const stub = env.PGLITE_DO.get(env.PGLITE_DO.newUniqueId());
      return stub.fetch('http://do/query', { method: 'POST', body: JSON.stringify({ sql: body.sql }) });
    }
    if (url.pathname === '/query' && body.tenant !== undefined) {
      if (!/^[A-Za-z0-9_-]{1,63}$/.test(body.tenant)) return json(400, { error: { message: 'bad tenant' } });
      const stub = env.PGLITE_DO.get(env.PGLITE_DO.idFromName(body.tenant));
      return stub.fetch('http://do/query', { method: 'POST', body: JSON.stringify({ sql: body.sql }) });
    }
    if (url.pathname === '/query') {
      return answer(async () => {
        const t0 = Date.now();
        let cold = false;
        if (!warm) {
          warm = newPglite();
          cold = true;
        }
        const out = await run(await warm, body.sql);
        return { ...out, timings: { totalUs: (Date.now() - t0) * 1000, cold, coldKind: cold ? 'created' : '' } };
      });
    }
    return json(404, { error: { message: `no route ${url.pathname}` } });
  },
};
