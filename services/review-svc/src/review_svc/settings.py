"""Settings of review-svc, read from BANGKE_* environment variables."""

from bangke_runtime.settings import ServiceSettings


class ReviewSettings(ServiceSettings):
    service_name: str = "review-svc"
    http_port: int = 8103
