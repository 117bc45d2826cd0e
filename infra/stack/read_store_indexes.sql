-- GIN companions for FerretDB's btree indexes (docs/adr/0010-read-store-indexes-for-ferretdb.md).
--
-- FerretDB v1 turns an equality filter on a field into `_jsonb->'field' @> $value`, which
-- a btree index on `(_jsonb->'field')` (the only kind FerretDB creates) cannot serve. For
-- every btree index FerretDB creates, this gives the table a GIN `jsonb_path_ops` index on
-- the index's leading expression, which serves `@>`: the leading field is the one an
-- equality filter names, as with a btree. An event trigger does it as FerretDB creates an
-- index (every collection, every rebuild generation), and a backfill covers the indexes that
-- exist already. `ledger stack up` runs this file as the superuser in the database FerretDB
-- uses, in one transaction, every time: each statement is idempotent.
--
-- Only tables in a schema holding `_ferretdb_database_metadata` (that is, a FerretDB
-- database) are touched; the event store's tables in `public` never are. With real MongoDB
-- as the read store there are no such schemas and the trigger has nothing to do.

-- Quiet reruns: "already exists, skipping" is the expected case.
SET client_min_messages = warning;

CREATE SCHEMA IF NOT EXISTS ledger_read_store;
-- FerretDB's role runs the trigger's functions when it creates an index.
GRANT USAGE ON SCHEMA ledger_read_store TO PUBLIC;

-- Deterministic, and never a name FerretDB picks (its index names end in `_idx`), so its own
-- name-clash check, which knows only its own indexes, can never be surprised by ours.
CREATE OR REPLACE FUNCTION ledger_read_store.gin_companion_name(table_name name, expression text)
RETURNS name
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog
AS $$
    SELECT (left(table_name, 40) || '_' || left(md5(table_name || ':' || expression), 12) || '_gin')::name
$$;

-- Create the GIN companion of one index when it is a FerretDB btree index whose leading key
-- is an expression on `_jsonb`; do nothing for any other index (our own GIN ones included,
-- which is what stops the trigger from recursing).
CREATE OR REPLACE FUNCTION ledger_read_store.add_gin_companion(btree_index oid)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
    schema_name name;
    table_name name;
    expression text;
BEGIN
    SELECT namespace.nspname, indexed.relname, pg_get_indexdef(idx.indexrelid, 1, false)
      INTO schema_name, table_name, expression
      FROM pg_index AS idx
      JOIN pg_class AS index_class ON index_class.oid = idx.indexrelid
      JOIN pg_am AS method ON method.oid = index_class.relam
      JOIN pg_class AS indexed ON indexed.oid = idx.indrelid
      JOIN pg_namespace AS namespace ON namespace.oid = indexed.relnamespace
     WHERE idx.indexrelid = btree_index
       AND method.amname = 'btree'
       AND idx.indkey[0] = 0  -- the leading key is an expression, not a column
       AND indexed.relname <> '_ferretdb_database_metadata'
       AND EXISTS (
           SELECT FROM pg_class AS metadata
            WHERE metadata.relnamespace = namespace.oid
              AND metadata.relname = '_ferretdb_database_metadata'
              AND metadata.relkind = 'r');
    -- `(_jsonb -> 'field'::text)`, or `((_jsonb -> 'a'::text) -> 'b'::text)` for a dotted key.
    IF NOT FOUND OR expression !~ '^\(+_jsonb -> ' THEN
        RETURN;
    END IF;
    BEGIN
        EXECUTE format(
            'CREATE INDEX IF NOT EXISTS %I ON %I.%I USING gin ((%s) jsonb_path_ops)',
            ledger_read_store.gin_companion_name(table_name, expression),
            schema_name, table_name, expression);
    EXCEPTION WHEN OTHERS THEN
        -- A missing companion costs speed, never correctness: FerretDB's own index
        -- creation must not fail because of ours.
        RAISE WARNING 'ledger_read_store: no GIN companion for %.%: %',
            schema_name, table_name, SQLERRM;
    END;
END
$$;

CREATE OR REPLACE FUNCTION ledger_read_store.on_create_index()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
    created record;
BEGIN
    FOR created IN
        SELECT objid FROM pg_event_trigger_ddl_commands() WHERE object_type = 'index'
    LOOP
        PERFORM ledger_read_store.add_gin_companion(created.objid);
    END LOOP;
END
$$;

-- No `CREATE OR REPLACE EVENT TRIGGER`: drop and create, in the same transaction.
DROP EVENT TRIGGER IF EXISTS ledger_read_store_gin_companions;
CREATE EVENT TRIGGER ledger_read_store_gin_companions
    ON ddl_command_end
    WHEN TAG IN ('CREATE INDEX')
    EXECUTE FUNCTION ledger_read_store.on_create_index();

-- Backfill: the indexes FerretDB made before the trigger existed.
DO $$
BEGIN
    PERFORM ledger_read_store.add_gin_companion(idx.indexrelid)
       FROM pg_index AS idx
       JOIN pg_class AS indexed ON indexed.oid = idx.indrelid
       JOIN pg_namespace AS namespace ON namespace.oid = indexed.relnamespace
      WHERE namespace.nspname NOT IN ('public', 'information_schema', 'ledger_read_store')
        AND namespace.nspname NOT LIKE 'pg\_%';
END
$$;
