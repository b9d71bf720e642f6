"""Settings of qualification-svc, read from BANGKE_* environment variables."""

from datetime import time

from pydantic import Field

from bangke_runtime.settings import ServiceSettings


class QualificationSettings(ServiceSettings):
    service_name: str = "qualification-svc"
    http_port: int = 8104

    lapse_sweep_at: time = Field(
        time(0, 10), description="Time of day (China Standard Time) of the daily sweep that lapses expired qualifications."
    )
    lapse_sweep_enabled: bool = Field(True, description="Run the daily lapse sweep on its schedule.")
    # 10,000 engineers with three certificates, three qualifications and 20 applied event ids each took
    # 83 MiB in a tracemalloc measurement, so the default keeps the service well under 200 MB.
    engineer_cache_size: int = Field(
        2000,
        ge=0,
        description="Engineer documents kept in memory on FerretDB, where this process is the only writer; 0 keeps none.",
    )
