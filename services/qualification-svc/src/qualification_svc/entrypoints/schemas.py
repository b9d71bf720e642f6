"""HTTP request and response bodies of qualification-svc."""

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class ApplyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    qualification_type: str = Field(
        min_length=1, max_length=64, description="Qualification type code from the catalogue.",
        examples=["split_ac_installation"],
    )


class CertificateTypeView(BaseModel):
    code: str
    name: str


class QualificationTypeView(BaseModel):
    code: str
    name: str
    required_certificates: list[CertificateTypeView]
    valid_until_without_certificates: date | None = Field(
        None, description="Validity of a qualification that needs no certificate (2099-12-31); null otherwise."
    )


class RequiredCertificateView(BaseModel):
    certificate_type: str
    name: str
    in_effect: bool
    expires_on: date | None = None


class LimitingCertificateView(BaseModel):
    certificate_type: str
    name: str
    certificate_id: str | None = None


class NextStepView(BaseModel):
    code: str = Field(description="take_exam, upload_certificate, renew_certificate, apply_again or none.")
    message: str = Field(description="What to do next, in Simplified Chinese.")
    certificate_type: str | None = None


class ExamResultView(BaseModel):
    attempt_id: str
    score: int
    passed: bool
    finished_at: datetime


class QualificationView(BaseModel):
    qualification_id: str
    engineer_id: str
    engineer_name: str | None = None
    outlet_id: str | None = None
    region_id: str | None = None
    qualification_type: str
    name: str
    status: str = Field(description="pending, granted, withdrawn or lapsed.")
    in_effect: bool = Field(description="Granted and valid today (China Standard Time).")
    applied_at: datetime
    granted_at: datetime | None = None
    valid_until: date | None = Field(None, description="Last day in effect, China Standard Time.")
    limiting_certificate: LimitingCertificateView | None = None
    required_certificates: list[RequiredCertificateView]
    passed_score: int | None = None
    exam_results: list[ExamResultView]
    withdrawn_at: datetime | None = None
    lapsed_at: datetime | None = None
    lapse_reason: str | None = None
    next_step: NextStepView
