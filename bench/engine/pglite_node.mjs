// pglite_node.mjs: the PGlite-in-Node peer of pgthaw's engine benchmark.
//
// Measures the five engine rows for @electric-sql/pglite (the same npm
// artifact pgthaw translates) in a fresh Node process, dataDir on disk
// (NODEFS), and prints ONE JSON object on stdout:
//   {system, version, rows: {initdb_ms, boot_ms, first_query_ms,
//    warm_select1_us, insert10k_ms}, extras: {...}, notes}
// Progress and errors go to stderr; exit status 1 on any failure.
//
// Usage: node pglite_node.mjs <work_dir> [--node-modules DIR] [--extra-initdb]
//   <work_dir>       an existing directory; the database goes in <work_dir>/pglite
//   --node-modules   where @electric-sql/pglite is installed; default
//                    ../node/node_modules relative to this script (bench/node)
//   --extra-initdb   after the rows, also time PGlite.create() on a second empty
//                    dir (<work_dir>/pglite2) in this now warm process:
//                    extras.initdb_warm_ms (bench_thaw uses it)
//
// What each row covers (the same definitions as the C++ side):
//   initdb_ms        PGlite.create() on an empty dir until it resolves (ready
//                    for queries). It is the first instance in the process, so
//                    it includes compiling the wasm; importing the JS is not
//                    included (reported as extras.module_import_ms).
//   boot_ms          PGlite.create() on that dir after a clean close().
//                    PGlite caches the compiled wasm module per process, so
//                    this is a warm-process boot, as pgthaw's is.
//   first_query_ms   the first exec('select 1') after that boot.
//   warm_select1_us  mean of 10,000 exec('select 1') after 100 untimed ones.
//   insert10k_ms     exec('begin'), 10,000 exec('insert ...') each its own
//                    call, exec('commit'): total.
// Durability: PGlite's NODEFS has no fsync, so nothing here waits on the disk.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const kWarmupQueries = 100;
const kWarmQueries = 10000;
const kInsertRows = 10000;

function fail(message) {
  process.stderr.write(`pglite_node: ${message}\n`);
  process.exit(1);
}

function parse_args(argv) {
  const script_dir = path.dirname(fileURLToPath(import.meta.url));
  const args = {
    work_dir: null,
    node_modules: path.resolve(script_dir, '..', 'node', 'node_modules'),
    extra_initdb: false,
  };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--node-modules' && i + 1 < argv.length) {
      args.node_modules = path.resolve(argv[++i]);
    } else if (argv[i] === '--extra-initdb') {
      args.extra_initdb = true;
    } else if (!argv[i].startsWith('--') && args.work_dir === null) {
      args.work_dir = path.resolve(argv[i]);
    } else {
      fail(`unexpected argument '${argv[i]}'\n` +
           'usage: node pglite_node.mjs <work_dir> [--node-modules DIR] [--extra-initdb]');
    }
  }
  if (args.work_dir === null) fail('usage: node pglite_node.mjs <work_dir> [--node-modules DIR]');
  return args;
}

// Imports the ESM entry of the installed package (its exports map has no
// ./package.json, so the files are located by hand).
async function import_pglite(node_modules) {
  const package_dir = path.join(node_modules, '@electric-sql', 'pglite');
  const manifest_path = path.join(package_dir, 'package.json');
  if (!fs.existsSync(manifest_path)) {
    fail(`@electric-sql/pglite not found in ${node_modules} (run: npm ci --prefix bench/node)`);
  }
  const manifest = JSON.parse(fs.readFileSync(manifest_path, 'utf8'));
  const entry = manifest.exports?.['.']?.import?.default ?? manifest.module ?? manifest.main;
  const module = await import(pathToFileURL(path.join(package_dir, entry)).href);
  return { PGlite: module.PGlite, package_version: manifest.version };
}

async function main() {
  const args = parse_args(process.argv.slice(2));
  if (!fs.existsSync(args.work_dir)) fail(`work dir ${args.work_dir} does not exist`);
  const data_dir = path.join(args.work_dir, 'pglite');
  fs.rmSync(data_dir, { recursive: true, force: true });
  fs.mkdirSync(data_dir);

  let t0 = performance.now();
  const { PGlite, package_version } = await import_pglite(args.node_modules);
  const module_import_ms = performance.now() - t0;

  // Row 1: initdb until ready.
  t0 = performance.now();
  let pg = await PGlite.create(data_dir);
  const initdb_ms = performance.now() - t0;
  await pg.exec('select 1');  // untimed: it does answer
  await pg.close();

  // Row 2: boot of the cleanly closed directory.
  t0 = performance.now();
  pg = await PGlite.create(data_dir);
  const boot_ms = performance.now() - t0;

  // Row 3: first query.
  t0 = performance.now();
  await pg.exec('select 1');
  const first_query_ms = performance.now() - t0;

  // Row 4: warm select 1.
  for (let i = 0; i < kWarmupQueries; i++) await pg.exec('select 1');
  t0 = performance.now();
  for (let i = 0; i < kWarmQueries; i++) await pg.exec('select 1');
  const warm_select1_us = ((performance.now() - t0) * 1000) / kWarmQueries;

  // Row 5: 10,000 single-row inserts in one transaction.
  await pg.exec('create table bench_insert (id integer primary key, payload text)');
  t0 = performance.now();
  await pg.exec('begin');
  for (let i = 0; i < kInsertRows; i++) {
    await pg.exec(`insert into bench_insert values (${i}, 'row ${i}')`);
  }
  await pg.exec('commit');
  const insert10k_ms = performance.now() - t0;

  const count = (await pg.query('select count(*)::int as n from bench_insert')).rows[0].n;
  if (count !== kInsertRows) fail(`expected ${kInsertRows} rows after commit, found ${count}`);
  const server_version = (await pg.query('select version() as v')).rows[0].v.split(' on ')[0];
  await pg.close();

  const extras = { module_import_ms };
  if (args.extra_initdb) {
    // A fresh database with the wasm module already compiled in this process.
    const data_dir2 = path.join(args.work_dir, 'pglite2');
    fs.rmSync(data_dir2, { recursive: true, force: true });
    fs.mkdirSync(data_dir2);
    t0 = performance.now();
    pg = await PGlite.create(data_dir2);
    extras.initdb_warm_ms = performance.now() - t0;
    await pg.exec('select 1');  // untimed: it does answer
    await pg.close();
  }

  const result = {
    system: 'PGlite-in-Node',
    version: `@electric-sql/pglite ${package_version}, node ${process.version}: ${server_version}`,
    rows: { initdb_ms, boot_ms, first_query_ms, warm_select1_us, insert10k_ms },
    extras,
    notes: 'dataDir on disk via NODEFS (no fsync); initdb_ms includes wasm compile, ' +
           'not the JS import; exec() per statement',
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((error) => fail(error?.stack ?? String(error)));
