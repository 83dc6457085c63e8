"""The people an open case names are kept as rows (workflows.links): written by the opening and by each act
that names someone, dropped by the act or the timer that closes the case; what migration 0012 fills from
earlier data."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, select, text

import migrations
from api.services import run_timers
from tests.workflows.support import CIPHER, OFFICIAL_IDS, VILLAGE_PASS, Flow, household
from workflows.env import Env
from workflows.fund import deposit_fund
from workflows.links import closed
from workflows.models import PersonLink

DAY = timedelta(days=1)
_links = PersonLink.__table__.c  # type: ignore[attr-defined]


def links_of(flow: Flow, case_id: int) -> set[str]:
    with flow.session(write=False) as s:
        return set(s.scalars(select(_links.person).where(_links.case_id == case_id)))


def test_opening_and_acts_link_the_people_named_and_closing_drops_them(flow: Flow, now: datetime) -> None:
    w = flow.world
    relative = {"name": "王亲属", "id_number": OFFICIAL_IDS["boss2"], "relation": "配偶"}
    case_id = flow.submit(household(serial=3, relatives=[relative]), now, actor=w.clerk)
    data = flow.case(case_id).data
    hashes = {str(m["id_hash"]) for m in data["members"]} | {str(data["applicant"]["id_hash"])}
    boss2 = CIPHER.lookup_hash(OFFICIAL_IDS["boss2"])
    assert links_of(flow, case_id) == {"clerk", boss2, *hashes}
    flow.verify(case_id, now)
    flow.act(case_id, "village_pass", w.clerk, now, {**VILLAGE_PASS, "investigators": ["clerk", "clerk2"]})
    assert links_of(flow, case_id) == {"clerk", "clerk2", w.county.username, boss2, *hashes}
    flow.act(case_id, "withdraw", w.clerk, now + DAY, {"reason": "搬走了 / moved away"})
    assert flow.state(case_id) == "withdrawn"
    assert links_of(flow, case_id) == set()


def test_a_timer_that_closes_the_case_drops_its_links(flow: Flow, now: datetime) -> None:
    with flow.session() as s:
        deposit_fund(
            s, env=flow.env, township_code="341122100000", amount_fen=1_000_000, actor=flow.world.county, now=now
        )
    case_id = flow.submit(household(aid_type="emergency", serial=4, cause="fire"), now, actor=flow.world.boss)
    flow.act(case_id, "grant_emergency", flow.world.boss, now, {"amount_fen": 100_000})
    flow.act(case_id, "complete_paperwork", flow.world.boss, now + DAY, {"note": "补齐签字盖章"})
    assert "boss" in links_of(flow, case_id)
    run_timers(flow.db, now + 9 * DAY, flow.env, clock=lambda: now + 9 * DAY)
    assert flow.state(case_id) == "closed"
    assert links_of(flow, case_id) == set()


def test_the_states_0012_leaves_unlinked_are_closed_in_every_definition() -> None:
    spec = migrations.__path__[0] + "/versions/0012_person_links.py"
    namespace: dict[str, object] = {}
    exec(compile(Path(spec).read_text(), spec, "exec"), namespace)
    frozen = namespace["CLOSED"]
    assert isinstance(frozen, dict)
    definitions = Env.load(None, "s" * 40).definitions()
    assert {d.key for d in definitions} == set(frozen)
    for definition in definitions:
        assert all(closed(definition, state) for state in frozen[definition.key]), definition.key
        assert set(frozen[definition.key]) <= set(definition.states)


_CASE = (
    "INSERT INTO cases (id, workflow, workflow_version, reference, region_code, township_code, county_code, "
    "state, version, entered_version, state_entered_at, applicant_user_id, data, created_at, updated_at) "
    "VALUES (:id, 'standard', 1, :ref, '341122100201', '341122100000', '341122000000', :state, 1, 1, "
    "'2026-01-01 00:00:00', :user, '{}', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
)
_IDENTIFIER = (
    "INSERT INTO case_identifiers (case_id, kind, lookup_hash, county_code) VALUES (:c, :k, :v, '341122000000')"
)
_ENTRY = (
    "INSERT INTO audit_entries (seq, at, actor, role, region_code, case_id, action, data, prev_hash, hash) "
    "VALUES (:seq, '2026-01-01 00:00:00', :actor, :role, '341122100201', :case_id, 'x', '{}', :prev, :hash)"
)


def test_0012_links_the_open_cases_of_earlier_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrations.upgrade(url, "0011")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO regions (code, name, level) VALUES ('341122100201', 'v', 'village')"))
        conn.execute(
            text(
                "INSERT INTO users (id, username, display_name, password_hash, active, created_at) "
                "VALUES (7, 'me', 'me', '!', 1, '2026-01-01')"
            )
        )
        for case_id, state, user in ((1, "township_review", 7), (2, "rejected", 7), (3, "active", None)):
            conn.execute(text(_CASE), {"id": case_id, "ref": f"R-{case_id}", "state": state, "user": user})
        identifiers = (
            (1, "member", "h1"),
            (2, "member", "h2"),
            (3, "investigator", "clerk2"),
            (3, "bank_account", "b"),
        )
        for case_id, kind, value in identifiers:
            conn.execute(text(_IDENTIFIER), {"c": case_id, "k": kind, "v": value})
        acts = (("boss", "township_officer", 1), ("boss", "township_officer", 2), ("system", "system", 3))
        for seq, (actor, role, case_id) in enumerate((*acts, ("clerk", "village_officer", 3)), start=1):
            chain = {"prev": f"{seq - 1:064x}", "hash": f"{seq:064x}"}
            conn.execute(text(_ENTRY), {"seq": seq, "actor": actor, "role": role, "case_id": case_id, **chain})
    migrations.upgrade(url)
    with engine.connect() as conn:
        rows = {tuple(r) for r in conn.execute(text("SELECT person, case_id FROM person_links")).all()}
    engine.dispose()
    # case 2 is closed; the system is nobody; a bank account is no person
    assert rows == {("boss", 1), ("h1", 1), ("user:7", 1), ("clerk2", 3), ("clerk", 3)}
