"""Settings of the eligibility service (env prefix ``ELIGIBILITY_``)."""

from shared.settings import ServiceSettings, service_config


class Settings(ServiceSettings):
    model_config = service_config("eligibility")

    port: int = 8101
    # Seconds between passes of the background workers (monitoring sweep, deadlines, gradual exits).
    worker_interval_seconds: float = 5.0
    # Households evaluated per transaction by the daily monitoring sweep.
    sweep_batch: int = 200
