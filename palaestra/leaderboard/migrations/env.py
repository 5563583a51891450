"""Alembic environment: runs on the connection :func:`palaestra.leaderboard.db.migrate` passes.

From the command line: ``alembic -x db=URL upgrade head`` with ``script_location`` set to
this folder also works.
"""

from __future__ import annotations

from alembic import context

from palaestra.leaderboard.db import Base, make_engine

config = context.config
connection = config.attributes.get("connection")

if connection is None:  # run by the alembic command, not by palaestra
    db = context.get_x_argument(as_dictionary=True).get("db")
    if not db:
        raise SystemExit("give the database: alembic -x db=URL upgrade head")
    with make_engine(db).begin() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata)
        context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=Base.metadata)
    context.run_migrations()
