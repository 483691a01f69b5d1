"""The tables the store reads and writes (tracker/models.py) are the tables the migrations make:
the same columns, with the same nullability and primary keys, the same indexes and foreign keys."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tracker import db, models
from tracker.config import Settings


def test_the_models_describe_the_migrated_schema(tmp_path: Path) -> None:
    engine = db.open_engine(Settings(db_url=f"sqlite:///{tmp_path / 't.db'}", user="t"))
    found = sa.inspect(engine)
    assert set(found.get_table_names()) - {"alembic_version"} == set(models.METADATA.tables)
    for table in models.METADATA.sorted_tables:
        columns = {c["name"]: c for c in found.get_columns(table.name)}
        assert set(columns) == set(table.c.keys()), table.name
        for c in table.columns:
            assert columns[c.name]["nullable"] == c.nullable, f"{table.name}.{c.name}"
        assert set(found.get_pk_constraint(table.name)["constrained_columns"]) == {c.name for c in table.primary_key}
        assert ({(tuple(i["column_names"]), bool(i["unique"])) for i in found.get_indexes(table.name)}
                >= {(tuple(c.name for c in i.columns), bool(i.unique)) for i in table.indexes}), table.name
        assert ({(tuple(f["constrained_columns"]), f["referred_table"]) for f in found.get_foreign_keys(table.name)}
                == {(tuple(c.parent.name for c in f.elements), f.referred_table.name)
                    for f in table.foreign_key_constraints}), table.name
    db.dispose_all()

