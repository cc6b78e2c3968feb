"""What every catalog table module shares: the one ``metadata`` (with the naming
convention the migrations rely on) and the time type."""

from __future__ import annotations

from sqlalchemy import DateTime, MetaData

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

UTC_TIME = DateTime(timezone=True)
