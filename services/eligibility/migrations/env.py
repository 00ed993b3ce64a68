"""Alembic environment of the eligibility service."""

from services.eligibility import models  # noqa: F401 - registers every table
from services.eligibility.models import Base
from shared.migrations import run_env

run_env(Base.metadata, "eligibility")
