"""alerts: report rollups of the stored sightings (docs/decisions/0018-report-rollups.md)

Three summary tables the monthly report reads in place of the month's sightings, kept by a
statement-level trigger on ``sightings`` in the transaction that stores them (every writer: the
scoring batch's INSERT, COPY, a test's INSERT), so a late event lands in its closed day at once:

- ``sighting_days``: events per China Standard Time (+08:00) day and admin code, and the 24
  counts by local hour: the totals, by hour, day and city;
- ``sighting_device_months``: events per CST month, device, violation and admin code, with the
  sums of lat and lon: by violation, and the hotspots;
- ``plate_months``: events per CST month, area (the province: the admin code's first two digits)
  and plate: the province's repeat offenders are the month's busiest plates, their violations and
  last sighting read for those ten from the sightings (plate index).

Sightings are append-only (nothing updates or deletes them), so an INSERT trigger is the whole
upkeep. The upgrade backfills the tables from the stored sightings.

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
# plate_months' area: the province (repository.ROLLUP_AREA_LENGTH); each level would cost an
# upsert a sighting in the scoring transaction
AREA_LENGTH = 2
_HOUR_COUNTS = ", ".join(f"count(*) FILTER (WHERE extract(hour FROM at_local) = {h})" for h in range(24))


def _roll_up(source: str) -> list[str]:
    """The upserts that add the sightings of ``source`` to the rollups, each in key order (two
    transactions that share keys lock them in the same order: no deadlock)."""
    local = f"SELECT *, (captured_at AT TIME ZONE 'UTC') + {CST} AS at_local FROM {source}"
    device = "device_id, violation, admin_code, count(*), sum(lat), sum(lon)"
    return [
        f"""
    INSERT INTO {S}.sighting_days AS t (day, admin_code, n, by_hour)
    SELECT at_local::date, admin_code, count(*), ARRAY[{_HOUR_COUNTS}]
    FROM ({local}) AS s GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (day, admin_code) DO UPDATE
    SET n = t.n + EXCLUDED.n,
        by_hour = ARRAY(SELECT a + b FROM unnest(t.by_hour, EXCLUDED.by_hour) WITH ORDINALITY AS u(a, b, i) ORDER BY i)""",
        f"""
    INSERT INTO {S}.sighting_device_months AS t (month, device_id, violation, admin_code, n, lat_sum, lon_sum)
    SELECT date_trunc('month', at_local)::date, {device}
    FROM ({local}) AS s GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (month, device_id, violation, admin_code) DO UPDATE
    SET n = t.n + EXCLUDED.n, lat_sum = t.lat_sum + EXCLUDED.lat_sum, lon_sum = t.lon_sum + EXCLUDED.lon_sum""",
        f"""
    INSERT INTO {S}.plate_months AS t (month, area, plate, n)
    SELECT date_trunc('month', at_local)::date, left(admin_code, {AREA_LENGTH}), plate, count(*)
    FROM ({local}) AS s WHERE plate IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
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
        f"""CREATE FUNCTION {S}.roll_up_sightings() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            {"; ".join(_roll_up("new_sightings"))};
            RETURN NULL;
        END $$""",
        f"""CREATE TRIGGER sightings_roll_up AFTER INSERT ON {S}.sightings
            REFERENCING NEW TABLE AS new_sightings
            FOR EACH STATEMENT EXECUTE FUNCTION {S}.roll_up_sightings()""",
        *_roll_up(f"{S}.sightings"),
    ):
        op.execute(statement)


def downgrade() -> None:
    op.execute(f"DROP TRIGGER sightings_roll_up ON {S}.sightings")
    op.execute(f"DROP FUNCTION {S}.roll_up_sightings()")
    op.execute(f"DROP TABLE {S}.plate_months, {S}.sighting_device_months, {S}.sighting_days")
