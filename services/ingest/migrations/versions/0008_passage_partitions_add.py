"""ingest: create a passage day partition on demand, never dropping one

``passage_partitions_keep`` (ingest_0006) both creates and drops, so the consumer cannot call it
for the day of a passage whose partition is missing (the upkeep failed, or a day was dropped by
hand): it would drop the days before. ``passage_partitions_add`` only creates, the days asked for,
under a transaction-scoped advisory lock so that two replicas creating the same day do not collide
(the second finds it made).

Revision ID: ingest_0008
Revises: ingest_0007
"""

from alembic import op

revision = "ingest_0008"
down_revision = "ingest_0007"
branch_labels = None
depends_on = None

S = "ingest"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE FUNCTION {S}.passage_partitions_add(days date[], tz text)
        RETURNS int
        LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        SET lock_timeout = '2s'
        AS $fn$
        DECLARE
            day date;
            name text;
            created int := 0;
        BEGIN
            IF cardinality(days) > 62 THEN
                RAISE EXCEPTION 'passage_partitions_add: % days at once', cardinality(days);
            END IF;
            PERFORM pg_advisory_xact_lock(hashtext('{S}.passages partitions'));
            FOREACH day IN ARRAY days LOOP
                name := 'passages_p' || to_char(day, 'YYYYMMDD');
                CONTINUE WHEN to_regclass('{S}.' || name) IS NOT NULL;
                EXECUTE format('CREATE TABLE {S}.%I (LIKE {S}.passages INCLUDING DEFAULTS)', name);
                EXECUTE format(
                    'ALTER TABLE {S}.passages ATTACH PARTITION {S}.%I FOR VALUES FROM (%L) TO (%L)',
                    name, (day::timestamp AT TIME ZONE tz), ((day + 1)::timestamp AT TIME ZONE tz));
                created := created + 1;
            END LOOP;
            RETURN created;
        END
        $fn$
        """
    )
    op.execute(f"REVOKE ALL ON FUNCTION {S}.passage_partitions_add(date[], text) FROM PUBLIC")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {S}.passage_partitions_add(date[], text)")
