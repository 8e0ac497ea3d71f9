"""alerts: report rollups of the alerts (docs/decisions/0018-report-rollups.md)

Two summary tables the monthly report reads in place of the month's alerts, keyed by the China
Standard Time month of ``first_seen`` (the month an alert belongs to) and by whether the alert is
a covert checkpoint hit (reports leave those out; the form of ``alerts.columns.NOT_COVERT_HIT_SQL``):

- ``alert_months``: per admin code, priority, kind and outcome ('' for none), the alerts raised,
  dispatched, signed, with feedback, resolved, dismissed and escalated: the loop's counts, by
  priority, kind, outcome and child jurisdiction;
- ``alert_duration_months``: per city, metric (``sign``: signed_at − dispatched_at; ``resolve``:
  resolved_at − first_seen) and duration bucket (``duration_bucket``), the number of alerts: the
  percentiles of the times to sign and resolve (a city's and the province's).

``duration_bucket(seconds)`` is the one precision of those times, for the rollups and for the
reports that read the alerts: to the second below an hour, to the minute below a day (its middle),
to the hour beyond (its middle), so that a city's month holds at most ~5,700 buckets a metric.

Alerts change after they are raised (dispatched, signed, resolved, a merge that raises the
priority): statement-level triggers on INSERT, UPDATE and DELETE append each statement's rows'
contributions (the new rows' +1, the old rows' −1, grouped, the keys that sum to nothing left out)
to the ``_fresh`` twins in the transaction that writes them, as alerts_0015 does for sightings;
``fold_alert_rollups()`` moves them into one row per key, called with the sightings' fold.

Revision ID: alerts_0016
Revises: alerts_0015
"""

from alembic import op

revision = "alerts_0016"
down_revision = "alerts_0015"
branch_labels = None
depends_on = None

S = "alerts"
ROLLUPS = ("alert_months", "alert_duration_months")
COUNTS = ("raised", "dispatched", "signed", "feedback", "resolved", "dismissed", "escalated")
# What each count is of one alert row (0 or 1), as the reports read the alerts (reports.repository).
_COUNTED = {
    "raised": "true",
    "dispatched": "dispatched_at IS NOT NULL",
    "signed": "signed_at IS NOT NULL",
    "feedback": "status = 'resolved' AND outcome IS NOT NULL",
    "resolved": "status = 'resolved'",
    "dismissed": "status = 'dismissed'",
    "escalated": "escalated_at IS NOT NULL",
}
_MONTH = "date_trunc('month', (first_seen AT TIME ZONE 'UTC') + interval '8 hours')::date"
_COVERT = """(kind = 'hotlist_hit' AND factors @> '[{"name": "hotlist", "value": "covert"}]'::jsonb)"""
_DURATIONS = {
    "sign": "extract(epoch FROM signed_at - dispatched_at)",
    "resolve": "extract(epoch FROM resolved_at - first_seen)",
}
_COUNT_KEY = "month, admin_code, priority, kind, outcome, covert"
_DURATION_KEY = "month, city_code, covert, metric, bucket"


def _contributions(rows: str, sign: int) -> str:
    """Each alert of ``rows`` as its rollup keys and ``sign`` times its counts."""
    counts = ", ".join(f"{sign} * ({c})::int AS {name}" for name, c in _COUNTED.items())
    return f"""SELECT {_MONTH} AS month, admin_code, city_code, priority, kind, coalesce(outcome, '') AS outcome,
               {_COVERT} AS covert, {counts},
               {", ".join(f"{S}.duration_bucket({d}) AS {m}" for m, d in _DURATIONS.items())}, {sign} AS n
        FROM {rows}"""


def _add_to_fresh(*sources: tuple[str, int]) -> str:
    """The inserts that add the rows of each (source, sign) to the fresh rows, grouped by key."""
    rows = " UNION ALL ".join(f"({_contributions(source, sign)})" for source, sign in sources)
    sums = ", ".join(f"sum({c})" for c in COUNTS)
    durations = " UNION ALL ".join(
        f"SELECT month, city_code, covert, '{m}', {m}, n FROM c" for m in _DURATIONS
    )
    return f"""
    WITH c AS MATERIALIZED ({rows}),
    counts AS (
        INSERT INTO {S}.alert_months_fresh ({_COUNT_KEY}, {", ".join(COUNTS)})
        SELECT {_COUNT_KEY}, {sums} FROM c GROUP BY {_COUNT_KEY}
        HAVING {" OR ".join(f"sum({c}) <> 0" for c in COUNTS)}
    )
    INSERT INTO {S}.alert_duration_months_fresh ({_DURATION_KEY}, n)
    SELECT {_DURATION_KEY}, sum(n) FROM ({durations}) AS d(month, city_code, covert, metric, bucket, n)
    WHERE bucket IS NOT NULL GROUP BY {_DURATION_KEY} HAVING sum(n) <> 0"""


# One fold at a time (the caller's lock), upserts in key order; rows appended meanwhile stay fresh.
_FOLD = [
    f"""
    WITH moved AS (DELETE FROM {S}.alert_months_fresh RETURNING *)
    INSERT INTO {S}.alert_months AS t ({_COUNT_KEY}, {", ".join(COUNTS)})
    SELECT {_COUNT_KEY}, {", ".join(f"sum({c})" for c in COUNTS)} FROM moved
    GROUP BY {_COUNT_KEY} ORDER BY {_COUNT_KEY}
    ON CONFLICT ({_COUNT_KEY}) DO UPDATE SET {", ".join(f"{c} = t.{c} + EXCLUDED.{c}" for c in COUNTS)}""",
    f"""
    WITH moved AS (DELETE FROM {S}.alert_duration_months_fresh RETURNING *)
    INSERT INTO {S}.alert_duration_months AS t ({_DURATION_KEY}, n)
    SELECT {_DURATION_KEY}, sum(n) FROM moved GROUP BY {_DURATION_KEY} ORDER BY {_DURATION_KEY}
    ON CONFLICT ({_DURATION_KEY}) DO UPDATE SET n = t.n + EXCLUDED.n""",
]

_TRIGGERS = {  # event: (transition tables, what they add)
    "INSERT": ("NEW TABLE AS new_alerts", (("new_alerts", 1),)),
    "UPDATE": ("OLD TABLE AS old_alerts NEW TABLE AS new_alerts", (("old_alerts", -1), ("new_alerts", 1))),
    "DELETE": ("OLD TABLE AS old_alerts", (("old_alerts", -1),)),
}


def upgrade() -> None:
    counts = ", ".join(f"{c} bigint NOT NULL" for c in COUNTS)
    statements = [
        f"""CREATE FUNCTION {S}.duration_bucket(seconds float8) RETURNS float8
            LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
            SELECT CASE WHEN seconds < 3600 THEN floor(seconds)
                        WHEN seconds < 86400 THEN floor(seconds / 60) * 60 + 30
                        ELSE floor(seconds / 3600) * 3600 + 1800 END $$""",
        f"""CREATE TABLE {S}.alert_months (
            month date NOT NULL,
            admin_code varchar(6) NOT NULL,
            priority varchar(2) NOT NULL,
            kind varchar(16) NOT NULL,
            outcome varchar(16) NOT NULL,
            covert boolean NOT NULL,
            {counts},
            PRIMARY KEY ({_COUNT_KEY})
        )""",
        f"""CREATE TABLE {S}.alert_duration_months (
            month date NOT NULL,
            city_code varchar(4) NOT NULL,
            covert boolean NOT NULL,
            metric varchar(8) NOT NULL,
            bucket float8 NOT NULL,
            n bigint NOT NULL,
            PRIMARY KEY ({_DURATION_KEY})
        )""",
        *(f"CREATE TABLE {S}.{t}_fresh (LIKE {S}.{t})" for t in ROLLUPS),
    ]
    for event, (tables, sources) in _TRIGGERS.items():
        function = f"{S}.roll_up_alerts_{event.lower()}"
        statements += [
            f"""CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                {_add_to_fresh(*sources)};
                RETURN NULL;
            END $$""",
            f"""CREATE TRIGGER alerts_roll_up_{event.lower()} AFTER {event} ON {S}.alerts
                REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION {function}()""",
        ]
    statements += [
        f"""CREATE FUNCTION {S}.fold_alert_rollups() RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            {"; ".join(_FOLD)};
        END $$""",
        _add_to_fresh((f"{S}.alerts", 1)),
        f"SELECT {S}.fold_alert_rollups()",
    ]
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    for event in _TRIGGERS:
        op.execute(f"DROP TRIGGER alerts_roll_up_{event.lower()} ON {S}.alerts")
        op.execute(f"DROP FUNCTION {S}.roll_up_alerts_{event.lower()}()")
    op.execute(f"DROP FUNCTION {S}.fold_alert_rollups()")
    op.execute(f"DROP TABLE {', '.join(f'{S}.{t}, {S}.{t}_fresh' for t in ROLLUPS)}")
    op.execute(f"DROP FUNCTION {S}.duration_bucket(float8)")
