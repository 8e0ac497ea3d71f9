"""alerts: report rollups of the stored sightings (docs/decisions/0018-report-rollups.md)

Three summary tables the monthly report reads in place of the month's sightings:

- ``sighting_days``: events per China Standard Time (+08:00) day and admin code, and the 24
  counts by local hour: the totals, by hour, day and city;
- ``sighting_device_months``: events per CST month, device, violation and admin code, with the
  sums of lat and lon: by violation, and the hotspots;
- ``plate_months``: events per CST month, area (the province: the admin code's first two digits)
  and plate: the province's repeat offenders are the month's busiest plates, their violations and
  last sighting read for those ten from the sightings (plate index).

A statement-level trigger on ``sightings`` adds each statement's sightings (every writer: the
scoring batch's INSERT, COPY, a test's INSERT), grouped, to ``<table>_fresh`` in the transaction
that stores them, so a late event counts in its closed day at once. The fresh tables are
append-only: two scoring transactions open at once (the pipeline's two batches, two replicas)
never wait for each other's rollup rows, as upserts on today's keys would make them.
``fold_sighting_rollups()``, called by the alerts service every few seconds, moves the fresh
rows into the tables' one row per key; a reader sums both. Sightings are append-only (nothing
updates or deletes them), so inserts are the whole upkeep. The upgrade backfills the tables.

Revision ID: alerts_0015
Revises: alerts_0014
"""

from alembic import op

revision = "alerts_0015"
down_revision = "alerts_0014"
branch_labels = None
depends_on = None

S = "alerts"
# The local time of the day and month keys: China Standard Time, the rules' default offset; the
# reports read them only at this offset (qzx_alerts.reports.repository.ROLLUP_OFFSET_S).
CST = "interval '8 hours'"
# plate_months' area: the province (repository.ROLLUP_AREA_LENGTH); each level would cost a
# row a sighting in the scoring transaction
AREA_LENGTH = 2
_HOUR_COUNTS = ", ".join(f"count(*) FILTER (WHERE extract(hour FROM at_local) = {h})" for h in range(24))


ROLLUPS = ("sighting_days", "sighting_device_months", "plate_months")


def _add_to_fresh(source: str) -> list[str]:
    """The inserts that add the sightings of ``source`` to the rollups' fresh rows, grouped."""
    local = f"SELECT *, (captured_at AT TIME ZONE 'UTC') + {CST} AS at_local FROM {source}"
    return [
        f"""
    INSERT INTO {S}.sighting_days_fresh (day, admin_code, n, by_hour)
    SELECT at_local::date, admin_code, count(*), ARRAY[{_HOUR_COUNTS}]
    FROM ({local}) AS s GROUP BY 1, 2""",
        f"""
    INSERT INTO {S}.sighting_device_months_fresh (month, device_id, violation, admin_code, n, lat_sum, lon_sum)
    SELECT date_trunc('month', at_local)::date, device_id, violation, admin_code, count(*), sum(lat), sum(lon)
    FROM ({local}) AS s GROUP BY 1, 2, 3, 4""",
        f"""
    INSERT INTO {S}.plate_months_fresh (month, area, plate, n)
    SELECT date_trunc('month', at_local)::date, left(admin_code, {AREA_LENGTH}), plate, count(*)
    FROM ({local}) AS s WHERE plate IS NOT NULL GROUP BY 1, 2, 3""",
    ]


# Each fold moves the fresh rows it sees into the folded ones in one statement; rows inserted
# meanwhile stay fresh for the next. Upserts in key order, one fold at a time (the caller's lock).
_FOLD = [
    f"""
    WITH moved AS (DELETE FROM {S}.sighting_days_fresh RETURNING *),
    hours AS (
        SELECT day, admin_code, i, sum(c) AS c
        FROM moved, unnest(by_hour) WITH ORDINALITY AS u(c, i) GROUP BY 1, 2, 3
    )
    INSERT INTO {S}.sighting_days AS t (day, admin_code, n, by_hour)
    SELECT day, admin_code, sum(c), array_agg(c ORDER BY i) FROM hours GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (day, admin_code) DO UPDATE
    SET n = t.n + EXCLUDED.n,
        by_hour = ARRAY(SELECT a + b FROM unnest(t.by_hour, EXCLUDED.by_hour) WITH ORDINALITY AS u(a, b, i) ORDER BY i)""",
    f"""
    WITH moved AS (DELETE FROM {S}.sighting_device_months_fresh RETURNING *)
    INSERT INTO {S}.sighting_device_months AS t (month, device_id, violation, admin_code, n, lat_sum, lon_sum)
    SELECT month, device_id, violation, admin_code, sum(n), sum(lat_sum), sum(lon_sum)
    FROM moved GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (month, device_id, violation, admin_code) DO UPDATE
    SET n = t.n + EXCLUDED.n, lat_sum = t.lat_sum + EXCLUDED.lat_sum, lon_sum = t.lon_sum + EXCLUDED.lon_sum""",
    f"""
    WITH moved AS (DELETE FROM {S}.plate_months_fresh RETURNING *)
    INSERT INTO {S}.plate_months AS t (month, area, plate, n)
    SELECT month, area, plate, sum(n) FROM moved GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (month, area, plate) DO UPDATE SET n = t.n + EXCLUDED.n""",
]


def upgrade() -> None:
    for statement in (
        f"""CREATE TABLE {S}.sighting_days (
            day date NOT NULL,
            admin_code varchar(6) NOT NULL,
            n bigint NOT NULL,
            by_hour bigint[] NOT NULL,
            PRIMARY KEY (day, admin_code)
        )""",
        f"""CREATE TABLE {S}.sighting_device_months (
            month date NOT NULL,
            device_id varchar(64) NOT NULL,
            violation varchar(32) NOT NULL,
            admin_code varchar(6) NOT NULL,
            n bigint NOT NULL,
            lat_sum float8 NOT NULL,
            lon_sum float8 NOT NULL,
            PRIMARY KEY (month, device_id, violation, admin_code)
        )""",
        f"""CREATE TABLE {S}.plate_months (
            month date NOT NULL,
            area varchar(6) NOT NULL,
            plate varchar(16) NOT NULL,
            n bigint NOT NULL,
            PRIMARY KEY (month, area, plate)
        )""",
        # the month's busiest plates without reading its every plate
        f"CREATE INDEX plate_months_busiest ON {S}.plate_months (month, area, n DESC, plate)",
        *(f"CREATE TABLE {S}.{t}_fresh (LIKE {S}.{t})" for t in ROLLUPS),
        f"""CREATE FUNCTION {S}.roll_up_sightings() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            {"; ".join(_add_to_fresh("new_sightings"))};
            RETURN NULL;
        END $$""",
        f"""CREATE TRIGGER sightings_roll_up AFTER INSERT ON {S}.sightings
            REFERENCING NEW TABLE AS new_sightings
            FOR EACH STATEMENT EXECUTE FUNCTION {S}.roll_up_sightings()""",
        f"""CREATE FUNCTION {S}.fold_sighting_rollups() RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            {"; ".join(_FOLD)};
        END $$""",
        *_add_to_fresh(f"{S}.sightings"),
        f"SELECT {S}.fold_sighting_rollups()",
    ):
        op.execute(statement)


def downgrade() -> None:
    op.execute(f"DROP TRIGGER sightings_roll_up ON {S}.sightings")
    op.execute(f"DROP FUNCTION {S}.roll_up_sightings(), {S}.fold_sighting_rollups()")
    op.execute(f"DROP TABLE {', '.join(f'{S}.{t}, {S}.{t}_fresh' for t in ROLLUPS)}")
