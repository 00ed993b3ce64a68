"""Settings of the wishes service (env prefix ``WISHES_``)."""

from shared.settings import ServiceSettings, service_config


class Settings(ServiceSettings):
    model_config = service_config("wishes")

    port: int = 8105
    # How often the pledge-expiry worker looks for pledges past their pledge_days (R-MW-4).
    expiry_sweep_seconds: float = 2.0
