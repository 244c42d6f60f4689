"""Sourcing runs: the network snapshot cache, the engine (or the exact MILP), and storing the answer."""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy.engine import Engine
from temporalio import activity

from domain.sourcing import exact
from domain.sourcing.engine import source
from domain.sourcing.jobs import OptionsAnswer, OptionsJob
from domain.sourcing.options import answer, check_request
from storage import network, options
from storage.network import NetworkCache

log = structlog.get_logger(__name__)


def compute(engine: Engine, cache: NetworkCache, job: OptionsJob) -> dict[str, object]:
    """Run the engine for a request and return the answer in the seed's shape."""
    net = cache.get(job.tenant)
    request = job.request
    check_request(request, net.index.__contains__)
    exceptions: list[dict[str, object]] = []
    latitude = request.address.latitude if request.address else None
    longitude = request.address.longitude if request.address else None
    if request.order_type == "HD" and (latitude is None or longitude is None):
        # No coordinates: measure from the request's location, and say so on every plan.
        ref = str(request.location_ref)
        location = network.location(engine, job.tenant, ref)
        latitude, longitude = location.latitude, location.longitude
        exceptions.append(
            {"code": "NO_COORDINATES", "message": f"distances measured from {ref}", "attributes": []}
        )
    profile = network.profile(engine, job.tenant)
    result = source(
        net, request.sourcing(latitude, longitude), profile, exact=exact.solve if job.exact else None
    )
    return answer(job.options_id, request, result, job.created_on, exceptions)


class SourcingActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._cache = NetworkCache(engine)

    @activity.defn(name="compute_fulfilment_options")  # the registered name predates the spelling rule
    async def compute_fulfillment_options(self, job: OptionsJob) -> OptionsAnswer:
        body = await asyncio.to_thread(compute, self._engine, self._cache, job)
        await asyncio.to_thread(options.save, self._engine, job.tenant, job.options_id, body, job.created_on)
        log.info(
            "options.computed",
            tenant=job.tenant,
            workflow_id=activity.info().workflow_id,
            plans=body["count"],
        )
        return OptionsAnswer(body=body)
