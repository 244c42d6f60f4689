"""Custom search attributes operators filter by in the Temporal UI. No personal data here.

`temporal-dev.yaml` registers the same keys on the dev server (a test keeps the two in step).
"""

from temporalio.common import SearchAttributeKey

TENANT = SearchAttributeKey.for_keyword("FulfillmentTenant")
PROCESS_TYPE = SearchAttributeKey.for_keyword("FulfillmentProcessType")
CART_ID = SearchAttributeKey.for_keyword("FulfillmentCartId")
STATUS = SearchAttributeKey.for_keyword("FulfillmentStatus")
REFERENCE = SearchAttributeKey.for_keyword("FulfillmentReference")

ALL = (TENANT, PROCESS_TYPE, CART_ID, STATUS, REFERENCE)
