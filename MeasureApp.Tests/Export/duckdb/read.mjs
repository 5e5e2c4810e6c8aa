// Independent reader for the export tests: DuckDB reads a Parquet export.
// Usage: node read.mjs <in.parquet> <out.csv>
// Writes the rows to out.csv as time_ns (BIGINT, from the timestamp column) plus every other column,
// and prints JSON with the schema DuckDB sees, the row count, row groups and key/value metadata.
import { DuckDBInstance } from '@duckdb/node-api';

const [input, output] = process.argv.slice(2);
const quote = (s) => "'" + String(s).replaceAll("'", "''") + "'";
const instance = await DuckDBInstance.create(':memory:');
const connection = await instance.connect();
const json = async (sql) => (await connection.runAndReadAll(sql)).getRowObjectsJson();

const file = `read_parquet(${quote(input)})`;
const columns = await json(`DESCRIBE SELECT * FROM ${file}`);
const others = columns.filter((c) => c.column_name !== 'time').map((c) => '"' + c.column_name.replaceAll('"', '""') + '"');
await connection.run(`COPY (SELECT epoch_ns("time") AS time_ns${others.map((c) => ', ' + c).join('')} FROM ${file}) TO ${quote(output)} (HEADER, DELIMITER ',')`);
const count = await json(`SELECT count(*) AS n FROM ${file}`);
const groups = await json(`SELECT count(DISTINCT row_group_id) AS n FROM parquet_metadata(${quote(input)})`);
const kv = await json(`SELECT decode(key) AS key, decode(value) AS value FROM parquet_kv_metadata(${quote(input)})`);
const timeSchema = await json(`SELECT type, logical_type FROM parquet_schema(${quote(input)}) WHERE name = 'time'`);
const chunks = await json(`SELECT row_group_id, path_in_schema, compression, stats_min_value, stats_max_value FROM parquet_metadata(${quote(input)}) ORDER BY row_group_id, column_id`);
console.log(JSON.stringify({
  columns: columns.map((c) => ({ name: c.column_name, type: c.column_type })),
  rows: Number(count[0].n),
  rowGroups: Number(groups[0].n),
  timePhysical: timeSchema[0]?.type ?? null,
  timeLogical: timeSchema[0]?.logical_type ?? null,
  metadata: Object.fromEntries(kv.map((r) => [r.key, r.value])),
  chunks: chunks.map((c) => ({ rowGroup: Number(c.row_group_id), column: String(c.path_in_schema), compression: String(c.compression),
    min: c.stats_min_value === null ? null : String(c.stats_min_value), max: c.stats_max_value === null ? null : String(c.stats_max_value) })),
}));
connection.closeSync();
instance.closeSync();
