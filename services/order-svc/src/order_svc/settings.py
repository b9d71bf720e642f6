"""Settings of order-svc, read from BANGKE_* environment variables."""

from bangke_runtime.settings import ServiceSettings


class OrderSettings(ServiceSettings):
    service_name: str = "order-svc"
    http_port: int = 8106
