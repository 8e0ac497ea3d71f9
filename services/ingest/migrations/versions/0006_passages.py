"""ingest: vehicle passages, partitioned by day, and the function that keeps their partitions

A province reads about 100 million passages a day. ``ingest.passages`` is partitioned by range of
``captured_at``, one partition a day (midnight to midnight China time, ``passages_pYYYYMMDD``), so
that a retention of N days is dropping whole tables, and a trajectory over a few days reads only
those partitions.

Idempotency: a unique index on a partitioned table must hold the partition key, so the primary key
is (captured_at, passage_id): a passage delivered again (a Kafka redelivery, an exchange retry)
carries the same id and time and is stored once. A passage id re-sent with a different capture
time would be stored again; refusing that needs a global index over every day that each insert
would pay for. Time first keeps inserts at the right edge of the index.

The indexes answer the two questions asked: (plate, captured_at) for "where has this plate been"
(rows without a plate are never searched by it), (device_id, captured_at) for "what passed here".

The service role owns nothing and so cannot create or drop tables: ``passage_partitions_keep``
does it for the days asked for, as its owner (SECURITY DEFINER, a fixed search_path). A new day is
created on its own and then attached, which does not block the inserts into the other days; the
drop of an old day waits at most ``lock_timeout`` and is tried again at the next maintenance.

Revision ID: ingest_0006
Revises: ingest_0005
"""

from alembic import op

revision = "ingest_0006"
down_revision = "ingest_0005"
branch_labels = None
depends_on = None

S = "ingest"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE {S}.passages (
            captured_at timestamptz NOT NULL,
            passage_id varchar(128) COLLATE "C" NOT NULL,
            device_id varchar(64) COLLATE "C" NOT NULL,
            plate varchar(16) COLLATE "C",
            plate_color varchar(16),
            vehicle_class varchar(16),
            direction varchar(8),
            lane smallint,
            speed_kmh float8,
            lat float8 NOT NULL,
            lon float8 NOT NULL,
            admin_code varchar(6) COLLATE "C" NOT NULL,
            road varchar(64),
            km float8,
            confidence float8,
            image_uri varchar(1024),
            received_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_passages PRIMARY KEY (captured_at, passage_id)
        ) PARTITION BY RANGE (captured_at)
        """
    )
    op.execute(
        f"CREATE INDEX ix_passages_plate_captured ON {S}.passages (plate, captured_at) WHERE plate IS NOT NULL"
    )
    op.execute(f"CREATE INDEX ix_passages_device_captured ON {S}.passages (device_id, captured_at)")
    op.execute(
        f"""
        CREATE FUNCTION {S}.passage_partitions_keep(first_day date, last_day date, tz text)
        RETURNS TABLE (created int, dropped int)
        LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        SET lock_timeout = '2s'
        AS $fn$
        DECLARE
            day date;
            name text;
            old record;
        BEGIN
            created := 0;
            dropped := 0;
            IF last_day < first_day OR last_day - first_day > 3700 THEN
                RAISE EXCEPTION 'passage_partitions_keep: % to % is not a range of days', first_day, last_day;
            END IF;
            FOR day IN SELECT generate_series(first_day, last_day, interval '1 day')::date LOOP
                name := 'passages_p' || to_char(day, 'YYYYMMDD');
                CONTINUE WHEN to_regclass('{S}.' || name) IS NOT NULL;
                EXECUTE format('CREATE TABLE {S}.%I (LIKE {S}.passages INCLUDING DEFAULTS)', name);
                EXECUTE format(
                    'ALTER TABLE {S}.passages ATTACH PARTITION {S}.%I FOR VALUES FROM (%L) TO (%L)',
                    name, (day::timestamp AT TIME ZONE tz), ((day + 1)::timestamp AT TIME ZONE tz));
                created := created + 1;
            END LOOP;
            FOR old IN
                SELECT c.relname FROM pg_inherits i
                JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = '{S}.passages'::regclass AND c.relname ~ '^passages_p[0-9]{{8}}$'
                  AND to_date(substr(c.relname, 11), 'YYYYMMDD') < first_day
            LOOP
                EXECUTE format('DROP TABLE {S}.%I', old.relname);
                dropped := dropped + 1;
            END LOOP;
            RETURN NEXT;
        END
        $fn$
        """
    )
    op.execute(f"REVOKE ALL ON FUNCTION {S}.passage_partitions_keep(date, date, text) FROM PUBLIC")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {S}.passage_partitions_keep(date, date, text)")
    op.execute(f"DROP TABLE {S}.passages")
