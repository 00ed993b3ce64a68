"""Alembic environment of the care service."""

from services.care import models  # noqa: F401 - registers every table
from services.care.models import Base
from shared.migrations import run_env

run_env(Base.metadata, "care")
