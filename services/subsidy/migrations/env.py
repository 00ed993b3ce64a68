"""Alembic environment of the subsidy service."""

from services.subsidy import models  # noqa: F401 - registers every table
from services.subsidy.models import Base
from shared.migrations import run_env

run_env(Base.metadata, "subsidy")
