from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from demetra_common.topics import Topics
from demetra_testkit import Service, ServiceGroup, ServiceProcess, eventually, read_topic


async def test_read_topic_returns_what_was_published_and_nothing_more(
    kafka_bootstrap: str, topics: Topics
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for i in range(5):
            await producer.send_and_wait(topics.sync_events, f"m{i}".encode(), key=b"k")
    finally:
        await producer.stop()
    records = await read_topic(kafka_bootstrap, topics.sync_events, count=5, idle_after=0.5)
    assert [record.value for record in records] == [f"m{i}".encode() for i in range(5)]


async def test_read_topic_fails_when_too_few_arrive(kafka_bootstrap: str, topics: Topics) -> None:
    with pytest.raises(AssertionError, match="0 of 1 records"):
        await read_topic(kafka_bootstrap, topics.sync_events, count=1, timeout=1.0)


async def test_eventually_gives_up_at_the_deadline() -> None:
    async def never() -> bool:
        return False

    with pytest.raises(AssertionError, match="flag not met"):
        await eventually(never, timeout=0.3, what="flag")


def test_service_process_reports_a_service_that_dies_at_start(tmp_path: Path) -> None:
    service = ServiceProcess("ghost", "demetra_common.no_such_module", env={}, log_dir=tmp_path)
    with pytest.raises(AssertionError, match="ghost exited with 1"):
        service.start(timeout=20)
    assert "No module named" in service.log_tail()


def test_service_group_starts_services_side_by_side_and_names_the_one_that_dies(tmp_path: Path) -> None:
    group = ServiceGroup({}, tmp_path)
    try:
        with pytest.raises(AssertionError, match="ghost exited with 1"):
            group.start_all(
                Service("demetra_common.no_such_module", "ghost"),
                Service("demetra_common.no_such_module_either", "other-ghost"),
                timeout=20,
            )
        # Both were launched before either was waited for: each has its log.
        assert {log.name for log in tmp_path.iterdir()} == {"ghost.log", "other-ghost.log"}
    finally:
        group.close()
