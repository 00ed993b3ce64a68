"""Alembic environment of the gateway."""

from gateway import models  # noqa: F401 - registers every table (infrastructure ones too)
from gateway.models import Base
from shared.migrations import run_env

run_env(Base.metadata, "gateway")
