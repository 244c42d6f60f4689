"""Activity interceptor: a domain error raised by any activity fails it at once, without retries.

Retrying a refused input never helps (an unknown location stays unknown), and an endless retry is a
stuck order. Raising `to_failure(e)` in every activity by hand would be one more thing to forget.
"""

from __future__ import annotations

from typing import Any

from temporalio import worker

from domain.errors import DomainError, to_failure


class _RefusalsAreFinal(worker.ActivityInboundInterceptor):
    async def execute_activity(self, input: worker.ExecuteActivityInput) -> Any:
        try:
            return await self.next.execute_activity(input)
        except DomainError as e:
            raise to_failure(e) from e


class DomainErrorsAreFinal(worker.Interceptor):
    def intercept_activity(
        self, next: worker.ActivityInboundInterceptor
    ) -> worker.ActivityInboundInterceptor:
        return _RefusalsAreFinal(next)
