"""Composition root of the scheduler: settings -> broker, durable state, core, control API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from faststream.kafka.publisher.usecase import DefaultPublisher

from demetra_common.contracts import SyncRequested
from demetra_common.kafka import broker_ready, make_broker
from demetra_common.logging import sync_context
from demetra_common.ops import ReadinessCheck, ops_router, service_app
from demetra_common.security import api_key_guard
from demetra_common.telemetry import span
from demetra_common.topics import SYNC_REQUESTED
from demetra_scheduler.lag import LagMonitor
from demetra_scheduler.routes import scheduler_router
from demetra_scheduler.service import SchedulerService
from demetra_scheduler.settings import SchedulerSettings
from demetra_scheduler.state import KafkaStateStore


def declare_request_publisher(broker: KafkaBroker, settings: SchedulerSettings) -> DefaultPublisher:
    return broker.publisher(
        settings.topics.sync_requested,
        schema=SyncRequested,
        title=SYNC_REQUESTED,
        description="Asks the ingestors for a sync, keyed by sync_id. Published by the scheduler (trigger "
        "schedule or manual) and the query API (api); anyone may publish one by hand.",
    )


@dataclass(frozen=True)
class SchedulerParts:
    """The scheduler's parts, wired but not connected: nothing here touches Kafka until the lifespan."""

    broker: KafkaBroker
    store: KafkaStateStore
    service: SchedulerService
    lag: LagMonitor

    def readiness_checks(self) -> dict[str, ReadinessCheck]:
        return {"kafka": broker_ready(self.broker)}


def build_scheduler(settings: SchedulerSettings) -> SchedulerParts:
    """The broker with every publisher declared, the durable state on it, and the core.

    The running service and the AsyncAPI generator both build the scheduler here.
    """
    broker = make_broker(settings, client_id="demetra-scheduler")
    requests = declare_request_publisher(broker, settings)
    topics = settings.topics
    store = KafkaStateStore(
        broker,
        topics.scheduler_state,
        partitions=topics.layout()[topics.scheduler_state],
        bootstrap_servers=settings.kafka_bootstrap_servers,
    )

    async def publish(request: SyncRequested) -> None:
        # The root of the sync's trace when tracing is on (a cron slot has no caller to continue from).
        with span("request sync", trigger=request.trigger.value), sync_context(request.sync_id):
            await requests.publish(request, key=request.sync_id.encode(), correlation_id=request.sync_id)

    service = SchedulerService(
        cron=settings.sync_cron,
        misfire_grace_s=settings.sync_misfire_grace_s,
        channels=settings.channels,
        publish=publish,
        state=store,
        history=settings.scheduler_history,
    )
    lag = LagMonitor(settings.kafka_bootstrap_servers, topics, interval_s=settings.consumer_lag_interval_s)
    return SchedulerParts(broker, store, service, lag)


def create_app(settings: SchedulerSettings) -> FastAPI:
    parts = build_scheduler(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        broker, store, service = parts.broker, parts.store, parts.service
        await broker.connect()
        try:
            await store.load(
                service.apply_paused, service.apply_last_slot, timeout_s=settings.scheduler_state_timeout_s
            )
            await service.start()
            parts.lag.start()
            app.state.scheduler = service
            yield
        finally:
            await parts.lag.stop()
            service.shutdown()
            await store.close()
            await broker.stop()

    app = service_app(
        title="Demetra scheduler",
        description="Requests a sync of every channel on a cron schedule; start, stop, sync-now on demand.",
        lifespan=lifespan,
    )
    app.include_router(ops_router(parts.readiness_checks()))
    app.include_router(scheduler_router(api_key_guard(settings.api_key)))

    @app.exception_handler(KafkaError)
    @app.exception_handler(TimeoutError)
    async def kafka_unavailable(_: Request, exc: Exception) -> JSONResponse:
        # A stop, start or sync-now that Kafka did not acknowledge did not happen: the client may retry.
        return JSONResponse({"detail": f"Kafka unavailable, nothing changed: {exc!r}"}, status_code=503)

    return app
