# syntax=docker/dockerfile:1.7
#
# Every Demetra image from one file, one target each:
#
#   docker build --target loader    -t demetra/loader:0.1.0 .
#   targets: scheduler, ingestor, loader, insights, query-api (services) and tools (demetra-migrate, demetra-topics)
#
# A build stage per target installs that one workspace package and its locked dependencies from uv.lock
# into /app/.venv (no dev tools, no source checkout: the packages are installed, not editable); the
# runtime stage is the slim Python image plus that virtualenv, run by an unprivileged user.
# docker-compose.yml builds them all; deploy/k8s uses the same tags.

FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM python:3.11.13-slim-bookworm AS python

# ------------------------------------------------------------------------------------------- build stages

FROM python AS build-base
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# The workspace's manifests first: the dependency layer below is rebuilt only when one of them changes.
COPY pyproject.toml uv.lock ./
COPY libs/common/pyproject.toml libs/common/
COPY libs/migrations/pyproject.toml libs/migrations/
COPY libs/mock/pyproject.toml libs/mock/
COPY libs/testkit/pyproject.toml libs/testkit/
COPY services/scheduler/pyproject.toml services/scheduler/
COPY services/ingestor/pyproject.toml services/ingestor/
COPY services/loader/pyproject.toml services/loader/
COPY services/insights/pyproject.toml services/insights/
COPY services/query-api/pyproject.toml services/query-api/

FROM build-base AS build-tools
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package demetra-migrations
COPY libs/common libs/common
COPY libs/migrations libs/migrations
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package demetra-migrations

FROM build-base AS build-scheduler
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package demetra-scheduler
COPY libs/common libs/common
COPY services/scheduler services/scheduler
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package demetra-scheduler

FROM build-base AS build-ingestor
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package demetra-ingestor
COPY libs/common libs/common
COPY libs/mock libs/mock
COPY services/ingestor services/ingestor
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package demetra-ingestor

FROM build-base AS build-loader
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package demetra-loader
COPY libs/common libs/common
COPY services/loader services/loader
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package demetra-loader

FROM build-base AS build-insights
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package demetra-insights
COPY libs/common libs/common
COPY services/insights services/insights
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package demetra-insights

FROM build-base AS build-query-api
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package demetra-query-api
COPY libs/common libs/common
COPY libs/mock libs/mock
COPY services/query-api services/query-api
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package demetra-query-api

# The console's browser assets (chart library), from npm with its lockfile: served by the query API.
FROM node:20.19.5-bookworm-slim AS console-vendor
WORKDIR /src
COPY services/query-api/console/package.json services/query-api/console/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

# ------------------------------------------------------------------------------------------- runtime

FROM python AS runtime
# A fixed numeric uid, so Kubernetes' runAsNonRoot can check it; the virtualenv stays owned by root.
RUN groupadd --system --gid 10001 demetra \
    && useradd --system --uid 10001 --gid demetra --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin demetra
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HTTP_HOST=0.0.0.0 \
    LOG_FORMAT=json
WORKDIR /app
USER 10001:10001
STOPSIGNAL SIGTERM

FROM runtime AS tools
COPY --from=build-tools /app/.venv /app/.venv
# One-shot jobs (migrations, topic creation): nothing to probe.
HEALTHCHECK NONE
CMD ["demetra-migrate", "upgrade", "head"]

FROM runtime AS scheduler
COPY --from=build-scheduler /app/.venv /app/.venv
ENV HTTP_PORT=8001
EXPOSE 8001
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-m", "demetra_common.probe", "/health"]
CMD ["python", "-m", "demetra_scheduler"]

FROM runtime AS ingestor
COPY --from=build-ingestor /app/.venv /app/.venv
# CHANNEL (facebook | instagram | google_ads | tiktok) is set per container.
ENV HTTP_PORT=8010
EXPOSE 8010
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-m", "demetra_common.probe", "/health"]
CMD ["python", "-m", "demetra_ingestor"]

FROM runtime AS loader
COPY --from=build-loader /app/.venv /app/.venv
ENV HTTP_PORT=8002
EXPOSE 8002
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-m", "demetra_common.probe", "/health"]
CMD ["python", "-m", "demetra_loader"]

FROM runtime AS insights
COPY --from=build-insights /app/.venv /app/.venv
ENV HTTP_PORT=8003
EXPOSE 8003
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-m", "demetra_common.probe", "/health"]
CMD ["python", "-m", "demetra_insights"]

FROM runtime AS query-api
COPY --from=build-query-api /app/.venv /app/.venv
COPY --from=console-vendor /src/node_modules /app/console/node_modules
ENV CONSOLE_VENDOR_DIR=/app/console/node_modules
ENV HTTP_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-m", "demetra_common.probe", "/health"]
CMD ["python", "-m", "demetra_query_api"]
