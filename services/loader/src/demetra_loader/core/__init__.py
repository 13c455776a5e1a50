"""The loader's core: no FastStream and no FastAPI here, so its tests need neither a broker nor HTTP.

- ``records``: judging one record (is it a loadable campaign.fetched message of schema 1 or 2, and which
  rows would it write)
- ``batch``: a batch of checked records and its plan (what each record not applied before does; per day for
  schema 2)
- ``daily``: a batch's schema-2 records written: daily rows, restatements, the campaigns derived from them
- ``restatements``: restatement rows and their metric.restated events (the outbox, published after commit)
- ``partitions``: campaign_daily's monthly partitions created before a batch needs them; retention
- ``tally``: counting a loaded batch per (sync_id, channel), and the ``load`` events that carry the counts
- ``storage``: what the core needs of PostgreSQL (``repository.py`` is the real one)
- ``dead_letters``: rejected records on their way to campaign.fetched.dlq
- ``retry``: retrying until success
- ``loading``: one batch in one transaction, retried, rows PostgreSQL refuses isolated and dead-lettered
- ``pipeline``: batches written in order in the background, while the next ones are consumed
- ``events``: sync.requested and sync.events messages into the events table
- ``maintenance``: jobs run at start and periodically (retention, unpublished restatements)
"""
