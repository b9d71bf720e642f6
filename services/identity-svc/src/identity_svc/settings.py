"""Settings of identity-svc, read from BANGKE_* environment variables."""

from bangke_runtime.settings import ServiceSettings


class IdentitySettings(ServiceSettings):
    service_name: str = "identity-svc"
    http_port: int = 8101
