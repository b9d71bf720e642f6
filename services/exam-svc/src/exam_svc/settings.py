"""Settings of exam-svc, read from BANGKE_* environment variables."""

from bangke_runtime.settings import ServiceSettings


class ExamSettings(ServiceSettings):
    service_name: str = "exam-svc"
    http_port: int = 8105
