"""Alembic environment of the relief service."""

from services.relief import models  # noqa: F401 - registers every table
from services.relief.models import Base
from shared.migrations import run_env

run_env(Base.metadata, "relief")
