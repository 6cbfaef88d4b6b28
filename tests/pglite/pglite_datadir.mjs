// The real PGlite 0.5.16 on a data-directory archive, for datadir_roundtrip.py:
//   node pglite_datadir.mjs make FILE    a database with 1,000 notes, dumpDataDir() to FILE
//   node pglite_datadir.mjs check FILE   loadDataDir(FILE), then the notes' count and md5
// FILE ending in .gz is gzipped. Prints one JSON line.
import fs from 'node:fs'
import { PGlite } from '@electric-sql/pglite'

const [, , command, file] = process.argv
const gzip = file.endsWith('.gz')
const summary = async (db) =>
  (
    await db.query(
      "select count(*)::int as n, md5(string_agg(body, ',' order by id)) as h from notes",
    )
  ).rows[0]

if (command === 'make') {
  const db = await PGlite.create()
  await db.exec(`
    create table notes (id serial primary key, body text not null);
    insert into notes (body) select 'note ' || g from generate_series(1, 1000) g;
    create index notes_body on notes (body);`)
  const dump = await db.dumpDataDir(gzip ? 'gzip' : 'none')
  fs.writeFileSync(file, Buffer.from(await dump.arrayBuffer()))
  console.log(JSON.stringify(await summary(db)))
  await db.close()
} else if (command === 'check') {
  const type = gzip ? 'application/gzip' : 'application/x-tar'
  const db = await PGlite.create({ loadDataDir: new Blob([fs.readFileSync(file)], { type }) })
  console.log(JSON.stringify(await summary(db)))
  await db.close()
} else {
  console.error('usage: pglite_datadir.mjs make|check FILE')
  process.exit(2)
}
