"""Settings of the subsidy service (env prefix ``SUBSIDY_``)."""

from shared.settings import ServiceSettings, service_config


class Settings(ServiceSettings):
    model_config = service_config("subsidy")

    port: int = 8103
    # How often the run worker looks for runs waiting for their snapshot (it is also woken at once
    # when this process creates a run).
    run_poll_seconds: float = 2.0
    # PostgreSQL work_mem (MB) of the snapshot transaction: its hash tables over every candidate line.
    snapshot_work_mem_mb: int = 256
