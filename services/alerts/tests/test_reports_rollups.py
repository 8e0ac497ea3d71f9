"""The monthly report read from the rollups of the sightings (alerts_0015) and of the alerts
(alerts_0016) gives the very figures the raw scan of the sightings and the alerts gives, on
generated data: every level of jurisdiction, year on year, events written late into a closed day,
events stored and alerts raised through the scoring batch, alerts changed after they were raised,
and another offset (which reads the sightings); the day and the week, which read the sightings
and the alerts, agree as well."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import text

from qzx_alerts.reports.folding import fold_once
from qzx_alerts.reports.repository import repeat_offenders
from qzx_alerts.reports.service import Period, build_report
from qzx_alerts.scoring.rules import Rules
from qzx_common.contracts.devices import DEVICES

pytestmark = [pytest.mark.db]

CST = timezone(timedelta(hours=8))
# March 2025 (and February before it, March 2024 a year before): no other test writes there.
MONTH = datetime(2025, 3, 1, tzinfo=CST)
SPAN = (datetime(2025, 2, 1, tzinfo=CST), datetime(2025, 4, 1, tzinfo=CST))
VIOLATIONS = ("drunk_driving", "speeding", "overload", "red_light", "wrong_way")
COLUMNS = ["event_id", "plate", "violation", "device_id", "lat", "lon", "admin_code", "captured_at"]
ALERT_COLUMNS = [
    "id", "kind", "dedup_key", "status", "priority", "score", "factors", "violations", "plates",
    "admin_code", "city_code", "lat", "lon", "first_seen", "last_seen", "count", "event_ids",
    "rules_version", "dispatched_at", "signed_at", "resolved_at", "escalated_at", "outcome",
]  # fmt: skip
COVERT = '[{"name": "hotlist", "value": "covert"}]'
PREFIXES = ("37", "3715", "371502", "370102", "370102001")
REPORTS: tuple[tuple[Period, date], ...] = (
    ("monthly", date(2025, 3, 17)),
    ("monthly", date(2025, 2, 28)),
    ("weekly", date(2025, 3, 5)),  # Monday 3 March to Sunday 9 March
    ("weekly", date(2025, 3, 31)),  # the week runs into April
    ("daily", date(2025, 3, 1)),
    ("daily", date(2025, 3, 10)),
)


def _sightings(rng: random.Random, n: int, tag: str) -> list[tuple[Any, ...]]:
    """``n`` sightings over SPAN on a few devices (repeat offenders among few plates), a tenth
    without a plate, a fifth on a local midnight or just before one."""
    devices = rng.sample(list(DEVICES), 12)
    plates = [f"鲁RR{i:04d}" for i in range(400)]
    rows = []
    for i in range(n):
        d = rng.choice(devices)
        at = SPAN[0] + timedelta(seconds=rng.uniform(0, (SPAN[1] - SPAN[0]).total_seconds()))
        edge = rng.random()
        if edge < 0.1:
            at = at.replace(hour=0, minute=0, second=0, microsecond=0)
        elif edge < 0.2:
            at = at.replace(hour=23, minute=59, second=59, microsecond=999_999)
        plate = None if rng.random() < 0.1 else rng.choice(plates)
        rows.append(
            (f"rr-{tag}-{i}", plate, rng.choice(VIOLATIONS), d.device_id, d.lat, d.lon, d.admin_code, at)
        )
    return rows


def _alerts(rng: random.Random, n: int, tag: str) -> list[tuple[Any, ...]]:
    """``n`` alerts over SPAN in every state, some covert checkpoint hits, a tenth first seen on a
    local midnight; times to sign and resolve fractional, across an hour and a day."""
    rows = []
    for i in range(n):
        d = rng.choice(DEVICES)
        seen = SPAN[0] + timedelta(seconds=rng.uniform(0, (SPAN[1] - SPAN[0]).total_seconds()))
        if rng.random() < 0.1:
            seen = seen.replace(hour=0, minute=0, second=0, microsecond=0)
        kind = rng.choice(("violation", "violation", "hotlist_hit", "plate_fraud"))
        factors = COVERT if kind == "hotlist_hit" and rng.random() < 0.5 else "[]"
        status = rng.choice(("new", "dispatched", "resolved", "resolved", "dismissed"))
        dispatched = seen + timedelta(seconds=rng.uniform(1, 300)) if status != "new" else None
        signed = (
            dispatched + timedelta(seconds=rng.choice((0.4, 59.5, 3599.9, 3600, 5000.2, 90000)))
            if (dispatched and rng.random() < 0.8)
            else None
        )
        resolved = seen + timedelta(seconds=rng.uniform(30, 3 * 86400)) if status == "resolved" else None
        outcome = rng.choice(("ticketed", "warned", None)) if status == "resolved" else None
        escalated = seen + timedelta(seconds=70) if rng.random() < 0.1 else None
        row = (
            f"rr-a-{tag}-{i}", kind, f"rr:{tag}:{i}", status, rng.choice(("P1", "P2", "P3", "P4")), 50.0,
            factors, ["speeding"], [], d.admin_code, d.admin_code[:4], d.lat, d.lon, seen, seen, 1,
            [f"rr-{tag}-{i}"], "test", dispatched, signed, resolved, escalated, outcome,
        )  # fmt: skip
        rows.append(row)
    return rows


async def _accidents(conn: Any, rng: random.Random) -> None:
    devices = list(DEVICES)
    for i in range(120):
        d = rng.choice(devices)
        year = rng.choice((2024, 2025))
        at = datetime(year, 3, 1, tzinfo=CST) + timedelta(days=rng.uniform(0, 31))
        severity = rng.choice(("property_only", "injury", "fatal"))
        await conn.execute(
            "INSERT INTO alerts.accident_facts (accident_id, occurred_at, admin_code, lat, lon, road, "
            "road_feature, severity, injured, killed, ebike_involved, rural) "
            "VALUES ($1, $2, $3, $4, $5, 'G2', 'junction', $6, $7, $8, $9, $10)",
            f"rr-acc-{i}",
            at,
            d.admin_code,
            d.lat,
            d.lon,
            severity,
            rng.randint(1, 2) if severity == "injury" else 0,
            rng.choice((1, 3)) if severity == "fatal" else 0,
            rng.random() < 0.3,
            rng.random() < 0.5,
        )


def _same(a: Any, b: Any, where: str = "report") -> None:
    """Equal, floats (the hotspots' mean positions: sums in another order) to 1e-9."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9), where
    else:
        assert a == b, where


async def _both(alerts: Any, *, period: Period, day: date, prefix: str, rules: Rules) -> dict[str, Any]:
    """The report from the rollups, checked against the one from the sightings."""
    async with alerts.state.runtime.engine.connect() as conn:
        rolled = await build_report(conn, period=period, day=day, prefix=prefix, rules=rules)
        scanned = await build_report(conn, period=period, day=day, prefix=prefix, rules=rules, rollups=False)
    _same(rolled, scanned, f"{period} {day} {prefix}")
    return rolled


@pytest.fixture(scope="module")
async def generated(alerts: Any) -> None:
    rng = random.Random(20250301)
    async with alerts.state.runtime.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        # the trigger sees COPY, a multi-row INSERT and a one-row INSERT alike
        await driver.copy_records_to_table(
            "sightings", schema_name="alerts", columns=COLUMNS, records=_sightings(rng, 2400, "c")
        )
        for rows in (_sightings(rng, 300, "m"), _sightings(rng, 1, "o")):
            await driver.executemany(
                "INSERT INTO alerts.sightings (event_id, plate, violation, device_id, lat, lon, admin_code, "
                "captured_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                rows,
            )
        await _accidents(driver, rng)
        await driver.copy_records_to_table(
            "alerts", schema_name="alerts", columns=ALERT_COLUMNS, records=_alerts(rng, 1500, "c")
        )
        await conn.commit()


async def test_rollup_reports_equal_the_raw_scan(alerts: Any, generated: None) -> None:
    rules = alerts.state.service.scoring.rules
    for period, day in REPORTS:
        for prefix in PREFIXES:
            await _both(alerts, period=period, day=day, prefix=prefix, rules=rules)
    month = await _both(alerts, period="monthly", day=MONTH.date(), prefix="37", rules=rules)
    # the data is what the comparison is about: events every day, offenders, year on year
    assert month["events"]["total"] > 1000 and len(month["events"]["by_day"]) == 31
    assert len(month["repeat_offenders"]) == 10 and month["repeat_offenders"][0]["count"] > 2
    assert month["accidents"]["total"] > 0 and month["accidents"]["last_year"]["accidents"] > 0
    loop = month["alerts"]
    assert loop["raised"] > 300 and loop["signed"] > 0 and loop["feedback"] > 0 and loop["escalated"] > 0
    assert loop["time_to_sign_s"]["p90"] > 3600 and loop["time_to_resolve_s"]["median"] > 3600


async def test_alerts_changed_after_they_were_raised(alerts: Any, generated: None) -> None:
    """Every writer's change to raised alerts moves their counts and times: a task's progress, a
    priority raised by a merge (INSERT … ON CONFLICT DO UPDATE), a hit made covert, a deletion."""
    rules = alerts.state.service.scoring.rules
    before = await _both(alerts, period="monthly", day=MONTH.date(), prefix="37", rules=rules)
    march = "first_seen >= '2025-03-01 00:00+08' AND first_seen < '2025-04-01 00:00+08'"
    async with alerts.state.runtime.engine.begin() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        await driver.execute(
            "UPDATE alerts.alerts SET status = 'resolved', outcome = 'ticketed', dispatched_at = first_seen, "
            f"signed_at = first_seen + interval '61.5 seconds', resolved_at = first_seen + interval '2 hours' "
            f"WHERE status = 'new' AND {march}"
        )
        await driver.execute(
            "INSERT INTO alerts.alerts AS a (id, kind, dedup_key, status, priority, score, factors, violations, "
            "plates, admin_code, city_code, lat, lon, first_seen, last_seen, count, event_ids, rules_version) "
            "SELECT id, kind, dedup_key, status, 'P1', score, factors, violations, plates, admin_code, city_code, "
            f"lat, lon, first_seen, last_seen, count, event_ids, rules_version FROM alerts.alerts WHERE {march} "
            "AND priority = 'P4' ON CONFLICT (id) DO UPDATE SET priority = EXCLUDED.priority, count = a.count + 1"
        )
        await driver.execute(
            f"UPDATE alerts.alerts SET factors = '{COVERT}' WHERE kind = 'hotlist_hit' AND factors = '[]' AND {march}"
        )
        deleted = await driver.execute(f"DELETE FROM alerts.alerts WHERE status = 'dismissed' AND {march}")
    after = await _both(alerts, period="monthly", day=MONTH.date(), prefix="37", rules=rules)
    for prefix in PREFIXES[1:3]:
        await _both(alerts, period="monthly", day=MONTH.date(), prefix=prefix, rules=rules)
    assert after["alerts"]["dismissed"] == 0 < before["alerts"]["dismissed"] and deleted != "DELETE 0"
    assert "P4" not in after["alerts"]["by_priority"] and after["alerts"]["by_priority"]["P1"] > 0
    assert after["alerts"]["raised"] < before["alerts"]["raised"]
    assert after["alerts"]["handled"] > before["alerts"]["handled"]


async def test_events_written_late_into_a_closed_day(alerts: Any, generated: None) -> None:
    rules = alerts.state.service.scoring.rules
    before = await _both(alerts, period="monthly", day=MONTH.date(), prefix="3715", rules=rules)
    d = next(d for d in DEVICES if d.admin_code.startswith("3715"))
    late = [
        (f"rr-late-{i}", "鲁RLATE01", "speeding", d.device_id, d.lat, d.lon, d.admin_code, at)
        for i, at in enumerate((MONTH.replace(day=2, hour=7), MONTH.replace(day=2, hour=23, minute=59)))
    ]
    async with alerts.state.runtime.engine.begin() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        await driver.copy_records_to_table("sightings", schema_name="alerts", columns=COLUMNS, records=late)
    after = await _both(alerts, period="monthly", day=MONTH.date(), prefix="3715", rules=rules)
    await _both(alerts, period="monthly", day=MONTH.date(), prefix="37", rules=rules)
    assert after["events"]["total"] == before["events"]["total"] + 2
    assert after["events"]["by_day"]["2025-03-02"] == before["events"]["by_day"].get("2025-03-02", 0) + 2
    daily = await _both(alerts, period="daily", day=date(2025, 3, 2), prefix=d.admin_code, rules=rules)
    assert {"plate": "鲁RLATE01", "count": 2} in [
        {k: o[k] for k in ("plate", "count")} for o in daily["repeat_offenders"]
    ]


async def test_another_offset_reads_the_sightings(alerts: Any, generated: None) -> None:
    """At +09:00 the CST days of the rollups are not the report's days: the figures still agree."""
    rules = alerts.state.service.scoring.rules
    tokyo = Rules.model_validate(rules.model_dump() | {"utc_offset": "+09:00"})
    for period, day in REPORTS[:3]:
        await _both(alerts, period=period, day=day, prefix="37", rules=tokyo)


async def test_scored_events_reach_the_rollups(
    alerts: Any, make: Any, score: Callable[[list[bytes]], Awaitable[Any]]
) -> None:
    """The scoring batch's INSERT of the new sightings keeps the rollups (a redelivery adds nothing)."""
    rules = alerts.state.service.scoring.rules
    plate = make.plate("R")
    at = datetime(2025, 1, 14, 23, 59, tzinfo=CST)  # and two minutes past midnight
    values = [make.accepted(plate=plate, captured_at=at + timedelta(minutes=i)) for i in range(3)]
    await score(values)
    await score(values[:1])
    month = await _both(alerts, period="monthly", day=at.date(), prefix="370102", rules=rules)
    province = await _both(alerts, period="monthly", day=at.date(), prefix="37", rules=rules)
    assert plate in [o["plate"] for o in province["repeat_offenders"]]
    assert month["events"]["by_day"] == {"2025-01-14": 1, "2025-01-15": 2}
    assert {"plate": plate, "count": 3} in [
        {k: o[k] for k in ("plate", "count")} for o in month["repeat_offenders"]
    ]


async def test_transactions_open_at_once_store_sightings_on_the_same_keys_without_waiting(
    alerts: Any, generated: None
) -> None:
    """Two scoring transactions open at once (the pipeline's two batches, two replicas) share
    today's rollup keys: neither waits for the other, and a fold between them loses neither."""
    rules = alerts.state.service.scoring.rules
    before = await _both(alerts, period="monthly", day=MONTH.date(), prefix="37", rules=rules)
    d = DEVICES[0]
    at = MONTH.replace(day=20, hour=9)
    engine = alerts.state.runtime.engine
    async with engine.connect() as one, engine.connect() as two:
        drivers = [(await c.get_raw_connection()).driver_connection for c in (one, two)]
        for i, driver in enumerate(drivers):
            await driver.execute("BEGIN; SET LOCAL lock_timeout = '1s'")
            record = (f"rr-open-{i}", "鲁ROPEN01", "speeding", d.device_id, d.lat, d.lon, d.admin_code, at)
            await driver.copy_records_to_table(
                "sightings", schema_name="alerts", columns=COLUMNS, records=[record]
            )
        await drivers[0].execute("COMMIT")
        await fold_once(engine)  # the second's rows are not its to fold yet
        await drivers[1].execute("COMMIT")
    after = await _both(alerts, period="monthly", day=MONTH.date(), prefix="37", rules=rules)
    assert after["events"]["total"] == before["events"]["total"] + 2
    assert after["events"]["by_day"]["2025-03-20"] == before["events"]["by_day"]["2025-03-20"] + 2


async def test_a_fold_leaves_the_figures_and_no_fresh_rows(alerts: Any, generated: None) -> None:
    rules = alerts.state.service.scoring.rules
    before = {
        p: await _both(alerts, period="monthly", day=MONTH.date(), prefix=p, rules=rules) for p in PREFIXES
    }
    while not await fold_once(alerts.state.runtime.engine):  # the service's own fold is running
        pass
    async with alerts.state.runtime.engine.connect() as conn:
        for table in (
            "sighting_days",
            "sighting_device_months",
            "plate_months",
            "alert_months",
            "alert_duration_months",
        ):
            assert await conn.scalar(text(f"SELECT count(*) FROM alerts.{table}_fresh")) == 0
            keys = await conn.scalar(text(f"SELECT count(*) FROM alerts.{table}"))
            assert keys > 0, table
    for p in PREFIXES:
        _same(await _both(alerts, period="monthly", day=MONTH.date(), prefix=p, rules=rules), before[p], p)
    # fresh rows on folded ones: the eleventh plate overtakes the tenth, a new one leads
    async with alerts.state.runtime.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        ranked = await repeat_offenders(raw, start=MONTH, end=SPAN[1], prefix="37", limit=11)
    climber, tenth = ranked[10], ranked[9]
    d = DEVICES[0]
    rows = [
        (
            f"rr-fresh-{plate}-{i}",
            plate,
            "speeding",
            d.device_id,
            d.lat,
            d.lon,
            d.admin_code,
            MONTH.replace(day=9),
        )
        for plate, n in ((climber["plate"], tenth["count"] - climber["count"] + 1), ("鲁RFRESH1", 60))
        for i in range(n)
    ]
    async with alerts.state.runtime.engine.begin() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        await driver.copy_records_to_table("sightings", schema_name="alerts", columns=COLUMNS, records=rows)
    month = await _both(alerts, period="monthly", day=MONTH.date(), prefix="37", rules=rules)
    top = [o["plate"] for o in month["repeat_offenders"]]
    assert top[0] == "鲁RFRESH1" and climber["plate"] in top
