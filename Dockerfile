# syntax=docker/dockerfile:1
# The worker image (target "app", the default) and the test-runner image (target "tests").
FROM python:3.12.8-slim-bookworm AS app

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY requirements/runtime.lock requirements/runtime.lock
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY pipeline/ pipeline/
RUN pip install --no-cache-dir --no-deps . \
    && useradd --create-home --uid 10001 imgpipe

USER imgpipe
ENTRYPOINT ["python", "-m", "pipeline"]
CMD ["worker"]

FROM app AS tests
USER root
COPY requirements/dev.lock requirements/dev.lock
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements/dev.lock
COPY tests/ tests/
COPY samples/ samples/
COPY scripts/ scripts/
RUN chown -R imgpipe /app
USER imgpipe
ENTRYPOINT ["python", "-m", "pytest"]
CMD ["tests/integration", "tests/e2e/test_flows.py", "-ra"]
