import t from 'tap'
import { splitSqlScript } from '../../src/db/sql-script.ts'

t.test('a script is cut at the semicolons that end statements, not at those inside quotes, bodies or comments', async (t) => {
  const fn = `CREATE FUNCTION f(a INT) RETURNS INT LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1; -- a comment; with a semicolon
  RETURN a + 1;
END
$$`
  const tagged = 'CREATE FUNCTION g() RETURNS TEXT LANGUAGE sql AS $body$ SELECT \'a;b\'; $body$'
  const script = `-- a heading; with a semicolon
CREATE TABLE "x;y" (v TEXT DEFAULT 'it''s; fine');
${fn};
/* a block; /* nested; */ comment */ INSERT INTO "x;y" VALUES (E'a\\';b');
${tagged};
SELECT $1::int;
`
  t.same(splitSqlScript(script), [
    `-- a heading; with a semicolon
CREATE TABLE "x;y" (v TEXT DEFAULT 'it''s; fine')`,
    fn,
    '/* a block; /* nested; */ comment */ INSERT INTO "x;y" VALUES (E\'a\\\';b\')',
    tagged,
    'SELECT $1::int'
  ])
})

t.test('no statement, no cut', async (t) => {
  t.same(splitSqlScript(''), [])
  t.same(splitSqlScript(' ;\n; '), [])
  t.same(splitSqlScript('SELECT 1'), ['SELECT 1'])
})
