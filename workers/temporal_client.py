"""One way to connect to Temporal: the pydantic data converter, so domain models travel as JSON."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode


async def connect(address: str, namespace: str) -> Client:
    return await Client.connect(address, namespace=namespace, data_converter=pydantic_data_converter)


async def ensure_search_attributes(client: Client) -> None:
    """Register the custom search attributes the workflows set, where the server lacks them."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest

    from workflows.search_attributes import ALL

    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        existing = set(listed.custom_attributes)
    except RPCError as e:
        if e.status != RPCStatusCode.UNIMPLEMENTED:  # the time-skipping test server cannot list them
            raise
        existing = set()
    missing = {k.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for k in ALL if k.name not in existing}
    if missing:
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
            )
        except RPCError as e:
            if e.status != RPCStatusCode.ALREADY_EXISTS:
                raise
