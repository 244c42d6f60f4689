# One image for every part: `fulfillment api`, `fulfillment worker` (see docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md temporal-dev.yaml ./
COPY fulfillment fulfillment
COPY domain domain
COPY workflows workflows
COPY activities activities
COPY workers workers
COPY storage storage
COPY api api
COPY sandbox sandbox
RUN pip install --no-cache-dir .
ENV FULFILLMENT_LOG_FORMAT=json FULFILLMENT_API_HOST=0.0.0.0
EXPOSE 8000
CMD ["fulfillment", "api"]
