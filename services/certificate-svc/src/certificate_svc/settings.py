"""Settings of certificate-svc, read from BANGKE_* environment variables."""

from bangke_runtime.settings import ServiceSettings


class CertificateSettings(ServiceSettings):
    service_name: str = "certificate-svc"
    http_port: int = 8102
