"""Settings of qualification-svc, read from BANGKE_* environment variables."""

from bangke_runtime.settings import ServiceSettings


class QualificationSettings(ServiceSettings):
    service_name: str = "qualification-svc"
    http_port: int = 8104
