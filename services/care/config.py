"""Settings of the care service (env prefix ``CARE_``)."""

from shared.settings import ServiceSettings, service_config


class Settings(ServiceSettings):
    model_config = service_config("care")

    port: int = 8104
    # Seconds between two passes of the sweeper (overdue visits, alert escalations, overdue
    # reassessments and supervisions). Every pass claims its rows with FOR UPDATE SKIP LOCKED and
    # persists a fired-once marker, so any number of replicas may sweep at once.
    sweep_interval_seconds: float = 1.0
    # Rows claimed per transaction by a sweep (one short transaction per batch).
    sweep_batch_size: int = 5000
