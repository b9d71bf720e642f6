"""The state a save writes equals what a later read of the document returns, so it can be cached as written."""

from datetime import UTC, datetime, timedelta, timezone

import bson
from bson.codec_options import CodecOptions
from hypothesis import given
from hypothesis import strategies as st

from qualification_svc.adapters.repository import state_fields
from qualification_svc.domain.model import Engineer, ExamResult, Qualification, Status

READ_BACK = CodecOptions(tz_aware=True)

instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))])
)


@given(applied=instants, granted=instants, finished=instants)
def test_state_survives_a_bson_round_trip(applied: datetime, granted: datetime, finished: datetime) -> None:
    engineer = Engineer("eng-1", name="张伟")
    engineer.qualifications.append(
        Qualification(
            qualification_id="q-1", qualification_type="ac_repair", required_certificates=("refrigeration_ac",),
            status=Status.GRANTED, applied_at=applied, granted_at=granted,
            exam_results=[ExamResult("attempt-1", 90, True, finished)],
        )
    )
    written = state_fields(engineer)

    assert bson.decode(bson.encode(written), codec_options=READ_BACK) == written
