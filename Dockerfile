# The worker image (target "app", the default) and the test-runner image (target "tests").
# The base is a build argument: upstream's Python image where a registry serves it, the stand-in `make images`
# builds where none does (compose passes PYTHON_IMAGE). No `# syntax=` line: BuildKit would fetch its frontend
# image from a registry before building, which fails offline.
ARG PYTHON_IMAGE=python:3.12.8-slim-bookworm
FROM ${PYTHON_IMAGE} AS app

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
