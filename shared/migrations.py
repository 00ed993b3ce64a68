"""Alembic plumbing: one environment per service, each against its own database.

A service's ``migrations/env.py`` is two lines: it calls :func:`run_env` with its metadata. The
target is the service's own metadata plus the infrastructure tables (:data:`InfraBase.metadata`);
autogenerate never sees anything else. :func:`upgrade` runs ``upgrade head`` programmatically (the
launcher and the tests use it); ``alembic -c services/<name>/alembic.ini check`` works from a shell
with ``<NAME>_DATABASE_URL`` set.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from shared.db import InfraBase, asyncpg_url

ROOT = Path(__file__).resolve().parents[1]


def component_dir(name: str) -> Path:
    """``services/<name>`` or ``gateway``."""
    return ROOT / "gateway" if name == "gateway" else ROOT / "services" / name


def alembic_config(name: str, database_url: str) -> Config:
    config = Config(str(component_dir(name) / "alembic.ini"))
    config.set_main_option("script_location", str(component_dir(name) / "migrations"))
    config.set_main_option("sqlalchemy.url", asyncpg_url(database_url).replace("%", "%%"))
    config.attributes["service"] = name
    return config


def upgrade(name: str, database_url: str) -> None:
    """``alembic upgrade head`` for service ``name`` (blocking; run it off the event loop)."""
    command.upgrade(alembic_config(name, database_url), "head")


def check(name: str, database_url: str) -> None:
    """``alembic check``: raises if the models and the migrations disagree."""
    command.check(alembic_config(name, database_url))


def run_env(service_metadata: MetaData, name: str) -> None:
    """Body of a service's ``env.py`` (called at import by Alembic)."""
    from alembic import context

    config = context.config
    url = config.get_main_option("sqlalchemy.url") or os.environ.get(f"{name.upper()}_DATABASE_URL")
    if not url:
        raise RuntimeError(f"set {name.upper()}_DATABASE_URL to run migrations of {name}")
    config.set_main_option("sqlalchemy.url", asyncpg_url(url).replace("%", "%%"))
    targets = [service_metadata, InfraBase.metadata]
    own_tables = {t for md in targets for t in md.tables}

    def include_object(obj, object_name, type_, reflected, compare_to):  # noqa: ANN001
        # Never let autogenerate see (and drop) a table that is not ours.
        if type_ == "table":
            return object_name in own_tables
        return True

    def do_run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=targets,
            include_object=include_object,
            compare_type=True,
            compare_server_default=False,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = async_engine_from_config(
            config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
        )
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    if context.is_offline_mode():
        context.configure(url=url, target_metadata=targets, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(run_async())
