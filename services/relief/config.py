"""Settings of the relief service (env prefix ``RELIEF_``)."""

from shared.settings import ServiceSettings, service_config


class Settings(ServiceSettings):
    model_config = service_config("relief")

    port: int = 8102
    # SLA / paperwork timers (R-TR-2, R-TR-5): seconds between two passes of the timer loop, and
    # how many due timers one transaction claims (SELECT … FOR UPDATE SKIP LOCKED).
    timer_interval_seconds: float = 1.0
    timer_batch_size: int = 500
