"""Rules an engineer's request can break; the HTTP layer turns each into an error response."""

from datetime import date


class QualificationRuleBroken(Exception):
    """Base of the outcomes that reject a request and change nothing."""


class EngineerNotAuthenticated(QualificationRuleBroken):
    def __init__(self, engineer_id: str) -> None:
        super().__init__(f"engineer {engineer_id} has not completed real-name authentication")
        self.engineer_id = engineer_id


class CertificatesMissing(QualificationRuleBroken):
    """A required certificate type has no version in effect."""

    def __init__(self, qualification_type: str, missing: tuple[str, ...]) -> None:
        super().__init__(f"{qualification_type} needs certificates {list(missing)}")
        self.qualification_type = qualification_type
        self.missing = missing


class QualificationLimitReached(QualificationRuleBroken):
    def __init__(self, limit: int) -> None:
        super().__init__(f"engineer holds {limit} qualifications already")
        self.limit = limit


class QualificationAlreadyHeld(QualificationRuleBroken):
    """The engineer holds, or has applied for, the same qualification type."""

    def __init__(self, qualification_id: str, qualification_type: str, status: str, valid_until: date | None) -> None:
        super().__init__(f"{qualification_type} is already {status} as {qualification_id}")
        self.qualification_id = qualification_id
        self.qualification_type = qualification_type
        self.status = status
        self.valid_until = valid_until


class QualificationNotFound(QualificationRuleBroken):
    def __init__(self, qualification_id: str) -> None:
        super().__init__(f"qualification {qualification_id} not found")
        self.qualification_id = qualification_id


class QualificationNotPending(QualificationRuleBroken):
    def __init__(self, qualification_id: str, status: str) -> None:
        super().__init__(f"qualification {qualification_id} is {status}, not pending")
        self.qualification_id = qualification_id
        self.status = status
