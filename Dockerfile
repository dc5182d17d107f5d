# The worker image (target "app", the default) and the test-runner image (target "tests").
# The base is a build argument: upstream's Python image where a registry serves it, the stand-in `make images`
# builds where none does (compose passes PYTHON_IMAGE). No `# syntax=` line: BuildKit would fetch its frontend
# image from a registry before building, which fails offline.
#
# Few, coarse layers: on the vfs storage driver (the only one where overlay mounts are refused) every layer is a
# full copy of the image so far, so the 13 layers this file once made took 8 GB for a 1 GB image. Files come in
# through bind mounts rather than COPY layers, and each RUN does one whole job. The locked dependencies stay a
# layer of their own so that editing the code does not download them again.
ARG PYTHON_IMAGE=python:3.12.8-slim-bookworm
FROM ${PYTHON_IMAGE} AS app

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN --mount=type=bind,source=requirements/runtime.lock,target=/tmp/runtime.lock \
    pip install --no-cache-dir --require-hashes --no-deps -r /tmp/runtime.lock \
    && useradd --create-home --uid 10001 imgpipe \
    && mkdir /app && chown imgpipe /app
# rw: the build writes its egg-info and build/ beside the sources; BuildKit throws those writes away.
RUN --mount=type=bind,source=.,target=/tmp/src,rw \
    pip install --no-cache-dir --no-deps /tmp/src
WORKDIR /app
USER imgpipe
ENTRYPOINT ["python", "-m", "pipeline"]
CMD ["worker"]

FROM app AS tests
USER root
RUN --mount=type=bind,source=requirements/dev.lock,target=/tmp/dev.lock \
    pip install --no-cache-dir --require-hashes --no-deps -r /tmp/dev.lock
RUN --mount=type=bind,source=.,target=/tmp/src \
    cp -r /tmp/src/pipeline /tmp/src/tests /tmp/src/samples /tmp/src/scripts /app/ && chown -R imgpipe /app
USER imgpipe
ENTRYPOINT ["python", "-m", "pytest"]
CMD ["tests/integration", "tests/e2e/test_flows.py", "-ra"]
