"""Exams: question banks, attempts, 30-minute score collection."""
