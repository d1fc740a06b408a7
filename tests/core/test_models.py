"""Regression: the earlier system crashed on a column named `metadata` (reserved by
SQLAlchemy's declarative base). Ours maps it to the attribute `metadata_`."""

import uuid

from sqlalchemy import select, text

from pyairtable_platform.core.accounts.models import User
from pyairtable_platform.kit.db import create_engine, create_session_factory
from tests.conftest import Infra


async def test_metadata_column_round_trips_through_the_orm(infra: Infra) -> None:
    engine = create_engine(infra.app_url, pool_size=1)
    factory = create_session_factory(engine)
    email = f"meta-{uuid.uuid4().hex[:8]}@example.com"
    try:
        async with factory() as session, session.begin():
            session.add(User(email=email, password_hash="x", metadata_={"plan": "pro", "seats": 3}))
        async with factory() as session:
            user = (await session.execute(select(User).where(User.email == email))).scalar_one()
            raw = (
                await session.execute(
                    text("SELECT metadata FROM users WHERE email = :e"), {"e": email}
                )
            ).scalar_one()
        assert user.metadata_ == {"plan": "pro", "seats": 3}
        assert raw == {"plan": "pro", "seats": 3}
        assert User.__table__.c["metadata"].name == "metadata"
    finally:
        await engine.dispose()
