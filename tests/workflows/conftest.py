"""Fixtures of the aid workflows' tests: the county's people and a flow on the fresh database."""

from __future__ import annotations

import pytest

from engine.database import Database
from tests.workflows.support import Flow, World, make_env, make_world


@pytest.fixture
def world(db: Database) -> World:
    return make_world(db)


@pytest.fixture
def flow(db: Database, world: World) -> Flow:
    return Flow(db, make_env(), world)
