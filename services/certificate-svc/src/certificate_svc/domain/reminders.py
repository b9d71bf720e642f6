"""Rules for choosing the expiry reminder that is due for a certificate on a given day."""

from datetime import date


def due_reminder(expires_on: date, today: date, reminder_days: tuple[int, ...]) -> int | None:
    """Return the reminder (days before expiry) due today, or None.

    The due reminder is the nearest threshold that the remaining days have reached: with thresholds
    30, 7 and 1, a certificate with 6 days left gets the 7-day reminder. A run missed on the exact
    day therefore still reminds once, and never sends an older, less urgent reminder after a newer one.
    A certificate is still in effect on its expiry date, which counts as 0 days left.
    """
    days_left = (expires_on - today).days
    if days_left < 0:
        return None
    reached = [days for days in reminder_days if days >= days_left]
    return min(reached) if reached else None


def reminder_id(certificate_id: str, version: int, days_before: int) -> str:
    """Stable id of one reminder, so a rerun of the reminder job issues nothing new."""
    return f"cert-{certificate_id}-v{version}-d{days_before}"
