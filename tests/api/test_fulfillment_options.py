"""The Fulfilment Options API over HTTP: the seed request, the network, the profile, states, tenants."""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from config.settings import Settings
from domain.sourcing.model import InventoryPosition
from storage import network as stored
from storage.engine import make_engine
from storage.network import NetworkCache
from tests.support import ApiClient, run_cli

BIN = Path(sys.executable).parent

SEED_REQUEST: dict[str, Any] = {
    "limit": 10,
    "orderType": "HD",
    "locationRef": "DR001",
    "trackingId": "track",
    "address": {
        "address1": "46 Kippax Street",
        "city": "Surry Hills",
        "postcode": "2010",
        "state": "NSW",
        "country": "Australia",
    },
    "items": [{"skuRef": "DM12345", "requestedQuantity": 1}],
    "attributes": [{"name": "type", "value": "special", "type": "STRING"}],
    "retailerId": 1,
}


async def network(api: ApiClient) -> None:
    locations = [
        {
            "ref": "DR001",
            "type": "STORE",
            "latitude": -33.886,
            "longitude": 151.211,
            "capabilities": ["HD", "CC"],
        },
        {"ref": "DC1", "type": "DC", "latitude": -33.80, "longitude": 150.90, "leadTimeHours": 8},
        {"ref": "ST2", "type": "STORE", "latitude": -33.87, "longitude": 151.20, "capabilities": ["CC"]},
    ]
    positions = [
        {"locationRef": "DR001", "skuRef": "DM12345", "onHand": 3, "reserved": 1},
        {"locationRef": "DC1", "skuRef": "DM12345", "onHand": 50, "safetyStock": 5},
        {"locationRef": "DC1", "skuRef": "DMI111", "onHand": 2},
        {"locationRef": "ST2", "skuRef": "DMI111", "onHand": 9},
    ]
    assert (await api.ok("PUT", "/locations", {"locations": locations}))["upserted"] == 3
    assert (await api.ok("PUT", "/inventory", {"positions": positions}))["upserted"] == 4


async def test_the_seed_request_answers_in_the_seed_shape(api: ApiClient) -> None:
    await network(api)
    body = await api.ok("POST", "/api/v4.1/fulfilmentOptions", SEED_REQUEST)
    for key in (
        "id",
        "limit",
        "count",
        "total",
        "orderType",
        "locationRef",
        "trackingId",
        "retailerId",
        "address",
        "items",
        "attributes",
        "plans",
        "unfulfilledItems",
        "flexType",
        "flexVersion",
        "createdOn",
    ):
        assert key in body, key
    assert body["status"] == "OPTIONS_PROVIDED" and body["flexType"] == "FULFILMENT_OPTIONS::DEFAULT"
    assert body["flexVersion"] == 1 and body["trackingId"] == "track" and body["retailerId"] == 1
    assert body["items"] == [{"skuRef": "DM12345", "requestedQuantity": 1, "availableQuantity": 47}]
    assert body["attributes"] == SEED_REQUEST["attributes"] and body["address"]["city"] == "Surry Hills"
    assert body["count"] == len(body["plans"]) >= 1 and body["unfulfilledItems"] == []
    plan = body["plans"][0]
    for key in (
        "id",
        "planId",
        "planType",
        "eta",
        "splits",
        "fulfilments",
        "exceptions",
        "attributes",
        "status",
        "fulfilmentOptionsId",
        "retailerId",
        "flexType",
        "flexVersion",
        "createdOn",
    ):
        assert key in plan, key
    assert plan["fulfilmentOptionsId"] == body["id"] and plan["flexType"] == "FULFILMENT_PLAN::DEFAULT"
    assert plan["status"] == "COMPLETE" and plan["splits"] == 0
    assert plan["fulfilments"] == [
        {
            "fulfilmentType": "HD",
            "locationRef": "DR001",
            "eta": "4H",
            "items": [{"skuRef": "DM12345", "availableQty": 1}],
        }
    ]
    assert {a["name"] for a in plan["attributes"]} >= {"cost", "distanceKm", "splits", "rankReasons"}
    # The seed's address has no coordinates: distances come from locationRef, and every plan says so.
    assert plan["exceptions"][0]["code"] == "NO_COORDINATES"
    again = await api.ok("GET", f"/api/v4.1/fulfilmentOptions/{body['id']}")
    assert again == body


async def test_unfulfilled_items_carry_a_reason(api: ApiClient) -> None:
    await network(api)
    request = {
        **SEED_REQUEST,
        "address": {"latitude": -33.88, "longitude": 151.2},
        "items": [{"skuRef": "DMI111", "requestedQuantity": 4}, {"skuRef": "NOPE", "requestedQuantity": 2}],
    }
    body = await api.ok("POST", "/api/v4.1/fulfilmentOptions", request)
    reasons = {u["skuRef"]: (u["unavailableQty"], u["reasonCode"]) for u in body["unfulfilledItems"]}
    assert reasons == {"DMI111": (2, "EXCLUDED_BY_ORDER_TYPE"), "NOPE": (2, "NO_STOCK")}
    assert body["plans"][0]["status"] == "PARTIAL" and body["plans"][0]["exceptions"] == []


async def test_click_and_collect_and_exact_mode(api: ApiClient) -> None:
    await network(api)
    cc = {"orderType": "CC", "locationRef": "ST2", "items": [{"skuRef": "DMI111", "requestedQuantity": 2}]}
    heuristic = await api.ok("POST", "/api/v4.1/fulfilmentOptions", cc)
    exact = await api.ok("POST", "/api/v4.1/fulfilmentOptions?mode=exact", cc)
    for body in (heuristic, exact):
        assert [f["locationRef"] for f in body["plans"][0]["fulfilments"]] == ["ST2"]
        assert body["plans"][0]["fulfilments"][0]["fulfilmentType"] == "CC"
    unknown = await api.post("/api/v4.1/fulfilmentOptions", {**cc, "locationRef": "NOWHERE"})
    assert unknown.status == 404 and unknown.body["errors"][0]["field"] == "locationRef"


async def test_a_selected_plan_holds_its_stock_until_confirmed_or_cancelled(
    api: ApiClient, make_tenant: Callable[..., ApiClient]
) -> None:
    await network(api)
    body = await api.ok("POST", "/api/v4.1/fulfilmentOptions", SEED_REQUEST)
    state = "/api/v4.1/fulfilmentOptions/state/"
    early = await api.call("PUT", state + "CONFIRMED", {"id": body["id"]})
    assert early.status == 409 and early.body["errors"][0]["code"] == "STATE_NOT_ALLOWED"
    unknown = await api.call("PUT", state + "PACKED", {"id": body["id"]})
    assert unknown.status == 409 and unknown.body["errors"][0]["code"] == "UNKNOWN_STATE"
    no_plan = await api.call("PUT", state + "SELECTED", {"id": body["id"], "planId": "nope"})
    assert no_plan.status == 400 and no_plan.body["errors"][0]["field"] == "planId"

    plan = body["plans"][0]
    (where,) = plan["fulfilments"]
    (item,) = where["items"]
    held = f"/inventory/{where['locationRef']}/{item['skuRef']}/reservations"
    changed = await api.ok("PUT", state + "SELECTED", {"id": body["id"], "planId": plan["planId"]})
    assert changed["status"] == "OPTIONS_SELECTED" and changed["selectedPlanId"] == plan["planId"]
    assert (await api.ok("GET", f"/api/v4.1/fulfilmentOptions/{body['id']}"))["status"] == "OPTIONS_SELECTED"
    assert [(r["ownerKind"], r["ownerId"], r["quantity"]) for r in await api.ok("GET", held)] == [
        ("plan", plan["planId"], item["availableQty"])
    ]
    again = await api.call("PUT", state + "OPTIONS_SELECTED", {"id": body["id"], "planId": plan["planId"]})
    assert again.status == 409  # selected already
    done = await api.ok("PUT", state + "CANCELLED", {"id": body["id"]})
    assert done["status"] == "OPTIONS_CANCELLED" and await api.ok("GET", held) == []
    bad = await api.call("PUT", "/api/v4.1/fulfilmentOptions/state/selected", {"id": body["id"]})
    assert bad.status == 400 and bad.body["errors"][0]["field"] == "stateName"
    stranger = make_tenant()
    assert (await stranger.get(f"/api/v4.1/fulfilmentOptions/{body['id']}")).status == 404
    moved = await stranger.call("PUT", "/api/v4.1/fulfilmentOptions/state/X", {"id": body["id"]})
    assert moved.status == 404


async def test_bad_requests_are_refused_with_the_field(api: ApiClient) -> None:
    await network(api)
    no_point = await api.post("/api/v4.1/fulfilmentOptions", {**SEED_REQUEST, "locationRef": None})
    assert no_point.status == 400 and no_point.body["errors"][0]["field"] == "address.latitude"
    no_items = await api.post("/api/v4.1/fulfilmentOptions", {**SEED_REQUEST, "items": []})
    assert no_items.status == 400 and no_items.body["errors"][0]["field"] == "items"
    bad_type = await api.post("/api/v4.1/fulfilmentOptions", {**SEED_REQUEST, "orderType": "XX"})
    assert bad_type.status == 400 and bad_type.body["errors"][0]["field"] == "orderType"
    bad_location = await api.call(
        "PUT", "/locations", {"locations": [{"ref": "X", "type": "SHOP", "latitude": 0, "longitude": 0}]}
    )
    assert bad_location.status == 400 and bad_location.body["errors"][0]["field"] == "locations[0].type"


async def test_network_changes_reach_the_next_request(api: ApiClient) -> None:
    await network(api)
    request = {**SEED_REQUEST, "address": {"latitude": -33.886, "longitude": 151.211}}
    assert (await api.ok("POST", "/api/v4.1/fulfilmentOptions", request))["plans"][0]["fulfilments"][0][
        "locationRef"
    ] == "DR001"
    await api.ok(
        "PUT", "/inventory", {"positions": [{"locationRef": "DR001", "skuRef": "DM12345", "onHand": 0}]}
    )
    after = await api.ok("POST", "/api/v4.1/fulfilmentOptions", request)
    assert after["plans"][0]["fulfilments"][0]["locationRef"] == "DC1"
    assert after["items"][0]["availableQuantity"] == 45


async def test_writes_through_another_replica_reach_the_next_request(
    api: ApiClient, settings: Settings
) -> None:
    """Each replica caches snapshots; the version counter in the database is what they share."""
    await network(api)
    request = {**SEED_REQUEST, "address": {"latitude": -33.886, "longitude": 151.211}}
    assert (await api.ok("POST", "/api/v4.1/fulfilmentOptions", request))["plans"][0]["fulfilments"][0][
        "locationRef"
    ] == "DR001"
    # Another replica: its own engine (connection pool) and its own cache, writing as its routes do.
    other_engine = make_engine(settings.resolved_database_url)
    other = NetworkCache(other_engine)
    try:
        net = other.snapshot(api.tenant).network
        assert net.stock["DM12345"][net.index["DR001"]] == 2
        empty = InventoryPosition(location_ref="DR001", sku_ref="DM12345", on_hand=0)
        stored.upsert_inventory(other_engine, api.tenant, [empty], datetime.now(UTC))
        after = await api.ok("POST", "/api/v4.1/fulfilmentOptions", request)
        assert after["plans"][0]["fulfilments"][0]["locationRef"] == "DC1"
        # ... and a write through this API reaches the other replica's cache.
        refill = {"locationRef": "DR001", "skuRef": "DM12345", "onHand": 7}
        await api.ok("PUT", "/inventory", {"positions": [refill]})
        net = other.snapshot(api.tenant).network
        assert net.stock["DM12345"][net.index["DR001"]] == 7
        # The profile is part of the snapshot: a fence set through the API applies to the next request.
        profile = await api.ok("GET", "/sourcing/profile")
        await api.ok("PUT", "/sourcing/profile", {**profile, "maxDistanceKm": 1})
        stored.upsert_inventory(other_engine, api.tenant, [empty], datetime.now(UTC))
        fenced = await api.ok("POST", "/api/v4.1/fulfilmentOptions", request)
        assert [(u["skuRef"], u["reasonCode"]) for u in fenced["unfulfilledItems"]] == [
            ("DM12345", "EXCLUDED_BY_DISTANCE")
        ]
        assert other.snapshot(api.tenant).profile.max_distance_km == 1
    finally:
        other_engine.dispose()


def test_the_cache_keeps_at_most_its_number_of_tenants(engine: Engine) -> None:
    cache = NetworkCache(engine, tenants=2)
    first = cache.snapshot("lru-a")
    assert cache.snapshot("lru-a") is first  # unchanged version: the cached snapshot
    cache.snapshot("lru-b")
    cache.snapshot("lru-c")  # a third tenant pushes out the least recently used
    assert cache.snapshot("lru-a") is not first


async def test_an_unknown_flex_type_or_version_is_refused_with_the_field(api: ApiClient) -> None:
    await network(api)
    named = await api.ok(
        "POST", "/api/v4.1/fulfilmentOptions", {**SEED_REQUEST, "flexType": "FULFILMENT_OPTIONS::DEFAULT"}
    )
    assert (named["flexType"], named["flexVersion"]) == ("FULFILMENT_OPTIONS::DEFAULT", 1)
    no_type = await api.post("/api/v4.1/fulfilmentOptions", {**SEED_REQUEST, "flexType": "CUSTOM"})
    assert no_type.status == 400 and no_type.body["errors"][0]["field"] == "flexType"
    no_version = await api.post("/api/v4.1/fulfilmentOptions", {**SEED_REQUEST, "flexVersion": 99})
    assert no_version.status == 400 and no_version.body["errors"][0]["field"] == "flexVersion"
    assert no_version.body["errors"][0]["code"] == "UNKNOWN_FLEX_VERSION"


async def test_bulk_loads_and_reads(api: ApiClient) -> None:
    await network(api)
    positions = [{"locationRef": "DC1", "skuRef": f"BULK-{i}", "onHand": i % 7} for i in range(20_000)]
    assert (await api.ok("PUT", "/inventory", {"positions": positions}))["upserted"] == 20_000
    found = await api.ok("GET", "/inventory?skuRef=BULK-13")
    assert found == [
        {
            "locationRef": "DC1",
            "skuRef": "BULK-13",
            "onHand": 6,
            "reserved": 0,
            "safetyStock": 0,
            "reservedByOrders": 0,
        }
    ]
    assert len(await api.ok("GET", "/inventory?locationRef=DC1&limit=10000")) == 10_000
    assert [loc["ref"] for loc in await api.ok("GET", "/locations")] == ["DC1", "DR001", "ST2"]
    assert (await api.ok("GET", "/locations/DC1"))["leadTimeHours"] == 8
    assert (await api.get("/locations/NOPE")).status == 404


async def test_sourcing_profile_with_optimistic_locking(api: ApiClient) -> None:
    profile = await api.ok("GET", "/sourcing/profile")
    assert profile["version"] == 1 and profile["objective"][0] == "unfulfilled"
    saved = await api.ok("PUT", "/sourcing/profile", {**profile, "maxSplit": 1})
    assert saved["version"] == 2 and saved["maxSplit"] == 1
    stale = await api.call("PUT", "/sourcing/profile", {**profile, "maxSplit": 2})
    assert stale.status == 409 and stale.body["errors"][0]["code"] == "VERSION_CONFLICT"
    bad = await api.call("PUT", "/sourcing/profile", {**saved, "objective": ["cost"]})
    assert bad.status == 400 and bad.body["errors"][0]["field"] == "objective"


async def test_csv_import(api: ApiClient, settings: Any, tmp_path: Path) -> None:
    locations = tmp_path / "locations.csv"
    with locations.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "ref",
                "type",
                "latitude",
                "longitude",
                "capabilities",
                "leadTimeHours",
                "closedDates",
                "preparationMinutes",
            ]
        )
        writer.writerow(["CSV1", "WAREHOUSE", "-33.9", "151.1", "HD|CC", "6", "", ""])
        writer.writerow(
            ["CSV2", "STORE", "-33.8", "151.0", "CC", "2", '["2026-12-25"]', '{"CLICK_AND_COLLECT": 20}']
        )
    env = {"FULFILLMENT_DATABASE_URL": settings.resolved_database_url, "PATH": str(BIN)}
    code, out = await run_cli(env, "import", "locations", str(locations), "--tenant", api.tenant)
    assert code == 0 and "imported 2 locations" in out, out
    assert (await api.ok("GET", "/locations/CSV1"))["capabilities"] == ["HD", "CC"]
    store = await api.ok("GET", "/locations/CSV2")
    assert (store["closedDates"], store["preparationMinutes"]) == (["2026-12-25"], {"CLICK_AND_COLLECT": 20})
    not_json = tmp_path / "bad-locations.csv"
    not_json.write_text('ref,type,latitude,longitude,closedDates\nCSV3,STORE,1,1,"[2026-12-25"\n')
    code, out = await run_cli(env, "import", "locations", str(not_json), "--tenant", api.tenant)
    assert code == 2 and "line 2, closedDates: not JSON" in out, out

    broken = tmp_path / "inventory.csv"
    broken.write_text("locationRef,skuRef,onHand\nCSV1,A,3\nCSV1,B,-1\n")
    code, out = await run_cli(env, "import", "inventory", str(broken), "--tenant", api.tenant)
    assert code == 2 and "line 3, onHand" in out, out
    assert await api.ok("GET", "/inventory?locationRef=CSV1") == []  # nothing written
