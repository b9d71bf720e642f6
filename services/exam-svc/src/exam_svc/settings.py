"""Settings of exam-svc, read from BANGKE_* environment variables."""

from pathlib import Path

from pydantic import Field

from bangke_runtime.settings import ServiceSettings


class ExamSettings(ServiceSettings):
    service_name: str = "exam-svc"
    http_port: int = 8105

    score_collection_interval_s: float = Field(
        30 * 60, gt=0, description="Seconds between score collections from the exam platform."
    )
    score_collection_enabled: bool = Field(True, description="Run score collection on its schedule.")
    questions_per_attempt: int = Field(10, ge=1, le=100, description="Questions drawn for one attempt (all when the bank has fewer).")
    # One document is under 1 KB in BSON and a few KB as Python objects, so the default keeps well
    # under 20 MB.
    application_cache_size: int = Field(
        5000,
        ge=0,
        description="Application documents kept in memory on FerretDB, where this process is the only writer; 0 keeps none.",
    )
    question_bank_dir: Path | None = Field(
        None, description="Folder of <qualification_type>.json question banks; the shipped banks when empty."
    )
