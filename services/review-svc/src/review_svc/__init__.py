"""Reviews: outlet review, nightly registry check, training-manager spot checks."""
