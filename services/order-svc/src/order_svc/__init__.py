"""Orders: service orders, dispatch eligibility, acceptance, paperless job records."""
