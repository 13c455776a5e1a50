"""Composition root of the scheduler: settings -> broker, durable state, core, control API."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from faststream.kafka.publisher.usecase import DefaultPublisher

from demetra_common.contracts import SyncRequested
from demetra_common.kafka import make_broker
from demetra_common.ops import ops_router
from demetra_common.security import api_key_guard
from demetra_common.topics import SYNC_REQUESTED
from demetra_scheduler.routes import scheduler_router
from demetra_scheduler.service import SchedulerService
from demetra_scheduler.settings import SchedulerSettings
from demetra_scheduler.state import KafkaStateStore, declare_state_publishers

logger = logging.getLogger(__name__)


def declare_request_publisher(broker: KafkaBroker, settings: SchedulerSettings) -> DefaultPublisher:
    return broker.publisher(
        settings.topics.sync_requested,
        schema=SyncRequested,
        title=SYNC_REQUESTED,
        description="Asks the ingestors for a sync, keyed by sync_id. Published by the scheduler (trigger "
        "schedule or manual) and the query API (api); anyone may publish one by hand.",
    )


def build_broker(settings: SchedulerSettings) -> KafkaBroker:
    """The scheduler's broker with every publisher declared (for the AsyncAPI document)."""
    broker = make_broker(settings, client_id="demetra-scheduler")
    declare_request_publisher(broker, settings)
    declare_state_publishers(broker, settings.topics.scheduler_state)
    return broker


def create_app(settings: SchedulerSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
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
            await requests.publish(request, key=request.sync_id.encode(), correlation_id=request.sync_id)

        service = SchedulerService(
            cron=settings.sync_cron,
            misfire_grace_s=settings.sync_misfire_grace_s,
            channels=settings.channels,
            publish=publish,
            state=store,
            history=settings.scheduler_history,
        )
        await broker.connect()
        app.state.broker = broker
        try:
            await store.load(
                service.apply_paused, service.apply_last_slot, timeout_s=settings.scheduler_state_timeout_s
            )
            await service.start()
            app.state.scheduler = service
            yield
        finally:
            service.shutdown()
            await store.close()
            await broker.stop()

    async def kafka_reachable() -> bool:
        broker: KafkaBroker | None = getattr(app.state, "broker", None)
        return broker is not None and await broker.ping(timeout=1.5)

    app = FastAPI(
        title="Demetra scheduler",
        description="Requests a sync of every channel on a cron schedule; start, stop, sync-now on demand.",
        lifespan=lifespan,
    )
    app.include_router(ops_router({"kafka": kafka_reachable}))
    app.include_router(scheduler_router(api_key_guard(settings.api_key)))

    @app.exception_handler(KafkaError)
    @app.exception_handler(TimeoutError)
    async def kafka_unavailable(_: Request, exc: Exception) -> JSONResponse:
        # A stop, start or sync-now that Kafka did not acknowledge did not happen: the client may retry.
        return JSONResponse({"detail": f"Kafka unavailable, nothing changed: {exc!r}"}, status_code=503)

    return app
