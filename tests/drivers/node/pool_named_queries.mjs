// node-postgres: a Pool(4) runs named queries ({name, text, values}) 200
// times at once. Each pool connection prepares "q" and "r" on its first use,
// so four connections of one tenant define the same names. Zero errors,
// right rows. Connection settings come from PGHOST, PGPORT, PGDATABASE,
// PGUSER (tests/drivers/harness.py).
import pg from "pg";

const pool = new pg.Pool({ max: 4, connectionTimeoutMillis: 30000 });
const failures = [];
pool.on("error", (e) => failures.push(`idle client error: ${e.message}`));

await pool.query("create table squares (n int primary key, sq int)");
await pool.query("insert into squares select g, g * g from generate_series(0, 99) g");

async function one(i) {
  try {
    const q = await pool.query({
      name: "q",
      text: "select n, sq, $2::text as tag from squares where n = $1",
      values: [i % 100, `call ${i}`],
    });
    const want = { n: i % 100, sq: (i % 100) ** 2, tag: `call ${i}` };
    if (JSON.stringify(q.rows) !== JSON.stringify([want])) {
      failures.push(`q ${i}: ${JSON.stringify(q.rows)} instead of ${JSON.stringify([want])}`);
    }
    // Another statement, with another result shape, under its own name.
    const r = await pool.query({ name: "r", text: "select count(*)::int as c from squares where n < $1", values: [i % 100] });
    if (r.rows.length !== 1 || r.rows[0].c !== i % 100) {
      failures.push(`r ${i}: ${JSON.stringify(r.rows)} instead of [{"c":${i % 100}}]`);
    }
  } catch (e) {
    failures.push(`call ${i}: ${e.code ?? ""} ${e.message}`);
  }
}

await Promise.all(Array.from({ length: 200 }, (_, i) => one(i)));
await pool.end();
if (failures.length > 0) {
  console.error(`${failures.length} failure(s), the first ones:\n${failures.slice(0, 10).join("\n")}`);
  process.exit(1);
}
console.log("ok");
