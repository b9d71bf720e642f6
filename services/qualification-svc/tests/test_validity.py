"""Validity of a qualification: properties over random certificate sets (hypothesis)."""

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bangke_contracts.qualifications import NO_CERTIFICATE_VALID_UNTIL
from qualification_svc.domain.validity import HeldCertificate, calculate_validity

TODAY = date(2026, 3, 1)
TYPES = ["refrigeration_ac", "work_at_height", "low_voltage_electrician", "gas_appliance"]

expiry_dates = st.dates(min_value=TODAY, max_value=date(2040, 12, 31))


@st.composite
def held_sets(draw: st.DrawFn) -> tuple[list[str], list[HeldCertificate]]:
    """Draw required types and one effective certificate per type."""
    required = draw(st.lists(st.sampled_from(TYPES), min_size=1, max_size=len(TYPES), unique=True))
    certificates = [
        HeldCertificate(f"cert-{code}", draw(st.integers(1, 5)), code, draw(expiry_dates)) for code in required
    ]
    return required, certificates


@given(held_sets())
def test_validity_is_earliest_expiry(drawn: tuple[list[str], list[HeldCertificate]]) -> None:
    required, certificates = drawn

    validity = calculate_validity(required, certificates, TODAY)

    assert validity.valid_until == min(c.expires_on for c in certificates)
    assert validity.limiting is not None
    assert validity.limiting.expires_on == validity.valid_until
    assert validity.missing == ()


@given(st.lists(st.builds(HeldCertificate, st.text(min_size=1), st.integers(1, 9), st.sampled_from(TYPES), expiry_dates)))
def test_no_requirement_gives_2099(certificates: list[HeldCertificate]) -> None:
    validity = calculate_validity([], certificates, TODAY)

    assert validity.valid_until == NO_CERTIFICATE_VALID_UNTIL == date(2099, 12, 31)
    assert validity.limiting is None


@given(held_sets(), st.integers(min_value=1, max_value=3000))
def test_renewing_one_of_several(drawn: tuple[list[str], list[HeldCertificate]], extra_days: int) -> None:
    required, certificates = drawn
    before = calculate_validity(required, certificates, TODAY)
    renewed_type = required[-1]
    old = next(c for c in certificates if c.certificate_type == renewed_type)
    renewed = HeldCertificate(old.certificate_id, old.version + 1, renewed_type, old.expires_on + timedelta(days=extra_days))
    after_set = [renewed if c is old else c for c in certificates]

    after = calculate_validity(required, after_set, TODAY)

    others = [c.expires_on for c in certificates if c is not old]
    assert after.valid_until == min([*others, renewed.expires_on])
    assert after.valid_until is not None and before.valid_until is not None
    assert after.valid_until >= before.valid_until
    if others and min(others) < old.expires_on:
        # Another certificate limited it before and still does, so renewal leaves it unchanged.
        assert after.valid_until == before.valid_until
        assert after.limiting is not None
        assert after.limiting.certificate_type != renewed_type


@given(held_sets(), st.data())
def test_missing_type_is_named(drawn: tuple[list[str], list[HeldCertificate]], data: st.DataObject) -> None:
    required, certificates = drawn
    dropped = data.draw(st.sampled_from(required))

    validity = calculate_validity(required, [c for c in certificates if c.certificate_type != dropped], TODAY)

    assert validity.valid_until is None
    assert validity.missing == (dropped,)


def test_expired_certificate_does_not_count() -> None:
    expired = HeldCertificate("c1", 1, "refrigeration_ac", TODAY - timedelta(days=1))
    last_day = HeldCertificate("c2", 1, "work_at_height", TODAY)

    validity = calculate_validity(["refrigeration_ac", "work_at_height"], [expired, last_day], TODAY)

    assert validity.missing == ("refrigeration_ac",)


def test_longest_of_two_same_type_counts() -> None:
    short = HeldCertificate("c1", 1, "refrigeration_ac", date(2027, 1, 1))
    long = HeldCertificate("c2", 1, "refrigeration_ac", date(2029, 1, 1))

    validity = calculate_validity(["refrigeration_ac"], [short, long], TODAY)

    assert validity.valid_until == date(2029, 1, 1)
    assert validity.limiting == long
