import { fileURLToPath } from 'node:url';

/**
 * Rows per table of every schema but the catalogs, one `schema.table|count` line each, in name order:
 * `make migrate-to-cloudnativepg` runs it on the StatefulSet and on the imported Cluster (psql -At) and
 * compares the two outputs with diff. `row-counts.ts --sql` prints it.
 */
export const ROW_COUNTS_SQL = `select format('%s.%s|%s', table_schema, table_name,
  (xpath('/row/n/text()', query_to_xml(format('select count(*) as n from %I.%I', table_schema, table_name), false, true, '')))[1])
from information_schema.tables
where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')
order by table_schema, table_name;
`;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv[2] !== '--sql') {
    process.stderr.write('usage: row-counts --sql | psql -At …\n');
    process.exit(2);
  }
  process.stdout.write(ROW_COUNTS_SQL);
}
