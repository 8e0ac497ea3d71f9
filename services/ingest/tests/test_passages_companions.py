"""GET /v1/passages/companions on a known set of passages (real database, through the consumer's
own storing steps)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from qzx_common.web.auth import mint_token
from qzx_dev.samples import make_passage
from qzx_ingest.settings import IngestSettings

from .test_passages import store

pytestmark = [pytest.mark.db]

JINAN = {"lat": 36.651, "lon": 117.12, "admin_code": "370102"}
QINGDAO = {"lat": 36.07, "lon": 120.38, "admin_code": "370202"}


async def test_companions_are_the_plates_that_passed_with_it_most_often(
    ingest: Any, client: httpx.AsyncClient, ingest_settings: IngestSettings
) -> None:
    tag = uuid.uuid4().hex[:6].upper()
    target, often, twice, once, late, elsewhere = (f"鲁Q{tag[:4]}{c}" for c in "TABCDE")
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
    devices = [f"370102-CK-{tag}{n}" for n in range(4)] + [f"370202-CK-{tag}9"]
    rows: list[dict[str, Any]] = []

    def at(plate: str, device: int, minutes: float) -> None:
        rows.append(
            make_passage(
                passage_id=f"{tag}-{len(rows)}",
                plate=plate,
                device_id=devices[device],
                location=QINGDAO if device == 4 else JINAN,
                captured_at=base + timedelta(minutes=minutes),
            )
        )

    for n, minutes in enumerate([0, 30, 60, 90, 120]):  # the target passes five devices
        at(target, n, minutes)
    for n, minutes in enumerate([0, 30, 60, 90]):
        at(often, n, minutes + 0.5)  # 30 s behind it at four Jinan devices
    at(often, 4, 120.2)  # and in Qingdao, which a Jinan caller does not see
    at(twice, 0, -0.4)
    at(twice, 2, 60.8)
    at(once, 1, 30)
    at(late, 0, 5)  # 5 minutes after: outside a 60 s window
    at(late, 1, 35)
    at(elsewhere, 4, 120)
    at(elsewhere, 4, 120.1)  # twice at one Qingdao passage of the target: counted once
    await store(ingest, rows)

    since = (base - timedelta(hours=1)).isoformat()
    r = await client.get("/v1/passages/companions", params={"plate": target, "since": since, "min_count": 1})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["plate"] == target and body["window_s"] == 60
    assert [(c["plate"], c["count"], c["devices"]) for c in body["items"]] == [
        (often, 5, 5),
        (twice, 2, 2),
        (once, 1, 1),  # ties by plate
        (elsewhere, 1, 1),
    ]
    ranked = await client.get("/v1/passages/companions", params={"plate": target, "since": since})
    assert [c["plate"] for c in ranked.json()["items"]] == [often, twice]  # min_count 2 by default
    wide = await client.get(
        "/v1/passages/companions", params={"plate": target, "since": since, "window_s": 600, "min_count": 2}
    )
    assert late in [c["plate"] for c in wide.json()["items"]]

    token = mint_token(secret=ingest_settings.jwt_secret, sub="c", role="city_commander", jur="3701")
    jinan = await client.get(
        "/v1/passages/companions",
        params={"plate": target, "since": since, "min_count": 1},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert [(c["plate"], c["count"]) for c in jinan.json()["items"]] == [(often, 4), (twice, 2), (once, 1)]

    bad = await client.get(
        "/v1/passages/companions", params={"plate": target, "since": since, "until": since}
    )
    assert bad.status_code == 422 and bad.json()["error"] == "companion_range_invalid"
