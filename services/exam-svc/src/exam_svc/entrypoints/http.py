"""HTTP API of exam-svc: exams open to the engineer, attempts, answers."""

from fastapi import APIRouter, status

from bangke_contracts.catalogue import Catalogue
from bangke_contracts.exams import PASS_MARK
from bangke_runtime.auth import Principal, require_roles
from bangke_runtime.errors import Conflict, NotFound, ValidationFailed

from ..adapters.platform import Attempt, AttemptNotOpen
from ..domain.exam import AnswerInvalid
from ..service_layer.handlers import ExamNotAvailable, ExamService, NoQuestionBank
from .schemas import (
    AttemptView,
    AvailableExamView,
    OptionView,
    QuestionView,
    StartAttemptRequest,
    SubmitAnswersRequest,
)


class ExamNotAvailableError(Conflict):
    code = "exam_not_available"


class QuestionBankMissing(Conflict):
    code = "question_bank_missing"


class AttemptNotFound(NotFound):
    code = "attempt_not_found"
    message = "考试记录不存在"


class AttemptFinished(Conflict):
    code = "attempt_finished"
    message = "本次考试已交卷，不能再次提交；如需重考，请开始新的考试"


class AnswerInvalidError(ValidationFailed):
    code = "answer_invalid"


def _name(catalogue: Catalogue, code: str) -> str:
    found = catalogue.qualifications.get(code)
    return found.name if found else code


def attempt_view(attempt: Attempt, catalogue: Catalogue) -> AttemptView:
    return AttemptView(
        attempt_id=attempt.attempt_id,
        qualification_type=attempt.qualification_type,
        qualification_name=_name(catalogue, attempt.qualification_type),
        status=attempt.status,
        started_at=attempt.started_at,
        questions=[
            QuestionView(
                question_id=q.question_id, text=q.text, points=q.points,
                options=[OptionView(key=o.key, text=o.text) for o in q.options],
            )
            for q in attempt.questions
        ],
        answers=attempt.answers,
        correct=attempt.correct,
        score=attempt.score,
        passed=None if attempt.score is None else attempt.score >= PASS_MARK,
        finished_at=attempt.finished_at,
        collected_at=attempt.collected_at,
    )


def build_router(service: ExamService, catalogue: Catalogue) -> APIRouter:
    router = APIRouter(tags=["exams"])
    engineer_only = require_roles("engineer")

    async def own_attempt(attempt_id: str, principal: Principal) -> Attempt:
        attempt = await service.platform.get(attempt_id)
        if attempt is None or attempt.engineer_id != principal.subject:
            raise AttemptNotFound(attempt_id=attempt_id)
        return attempt

    @router.get("/exams", summary="Exams the engineer may take: one per pending application")
    async def list_exams(principal: Principal = engineer_only) -> list[AvailableExamView]:
        applications = await service.applications.applications(principal.subject)
        return [
            AvailableExamView(
                qualification_type=code, qualification_name=_name(catalogue, code),
                qualification_id=application["qualification_id"], question_bank=service.platform.has_exam(code),
            )
            for code, application in sorted(applications.items())
            if application["status"] == "applied"
        ]

    @router.post("/attempts", status_code=status.HTTP_201_CREATED, summary="Start an attempt (or resume the open one)")
    async def start_attempt(body: StartAttemptRequest, principal: Principal = engineer_only) -> AttemptView:
        name = _name(catalogue, body.qualification_type)
        try:
            attempt = await service.start_attempt(principal.subject, body.qualification_type)
        except ExamNotAvailable as error:
            hint = {
                None: f"请先申请「{name}」资质，申请受理后即可参加考试",
                "granted": f"「{name}」资质已生效，无需再考试",
                "withdrawn": f"「{name}」资质申请已撤回，请重新申请后再参加考试",
                "lapsed": f"「{name}」资质已失效，请重新申请后再参加考试",
            }.get(error.status, f"请先申请「{name}」资质")
            raise ExamNotAvailableError(hint, field="qualification_type", application_status=error.status) from error
        except NoQuestionBank as error:
            raise QuestionBankMissing(
                f"「{name}」暂无考试题库，请联系运营人员", field="qualification_type"
            ) from error
        return attempt_view(attempt, catalogue)

    @router.get("/attempts", summary="The engineer's attempts, newest first")
    async def list_attempts(principal: Principal = engineer_only) -> list[AttemptView]:
        return [attempt_view(a, catalogue) for a in await service.platform.list_for(principal.subject)]

    @router.get("/attempts/{attempt_id}", summary="One of the engineer's attempts")
    async def get_attempt(attempt_id: str, principal: Principal = engineer_only) -> AttemptView:
        return attempt_view(await own_attempt(attempt_id, principal), catalogue)

    @router.post("/attempts/{attempt_id}/answers", summary="Submit the answers and get the score")
    async def submit_answers(
        attempt_id: str, body: SubmitAnswersRequest, principal: Principal = engineer_only
    ) -> AttemptView:
        attempt = await own_attempt(attempt_id, principal)
        if attempt.status != "started":
            raise AttemptFinished(attempt_id=attempt_id)
        try:
            await service.submit(attempt, body.answers)
        except AnswerInvalid as error:
            message = (
                f"题目 {error.question_id} 不属于本次考试，请只提交本次考试的题目"
                if error.reason == "not_in_attempt"
                else f"题目 {error.question_id} 的选项无效，请从 {'、'.join(error.allowed)} 中选择"
            )
            raise AnswerInvalidError(message, field=f"answers.{error.question_id}", allowed=list(error.allowed)) from error
        except AttemptNotOpen as error:
            raise AttemptFinished(attempt_id=attempt_id) from error
        return attempt_view(await own_attempt(attempt_id, principal), catalogue)

    return router
