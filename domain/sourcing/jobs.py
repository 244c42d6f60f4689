"""What the fulfillment options workflow and its activity exchange."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.model import CamelModel
from domain.sourcing.options import FLEX_TYPE, FLEX_VERSION, OptionsRequest


class OptionsJob(CamelModel):
    tenant: str
    options_id: str
    request: OptionsRequest
    exact: bool = False
    created_on: datetime


class OptionsAnswer(CamelModel):
    body: dict[str, Any]


# flexType and flexVersion name the workflow type that computes the options: a new version is a
# new workflow type, so requests in flight keep the logic they started with.
WORKFLOW_TYPES = {(FLEX_TYPE, FLEX_VERSION): "FulfilmentOptions.DEFAULT.v1"}  # registered name: kept
