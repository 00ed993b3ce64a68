"""Alembic environment of the wishes service."""

from services.wishes import models  # noqa: F401 - registers every table
from services.wishes.models import Base
from shared.migrations import run_env

run_env(Base.metadata, "wishes")
