"""The act forms read from the actions' data models, amounts typed in yuan, and bilingual reasons split."""

from __future__ import annotations

from starlette.datastructures import FormData

from api.web.actforms import form_for, place_reasons, read_form, yuan_to_fen
from api.web.apply import Draft, check
from api.web.cases import main_path, steps_of
from api.web.i18n import pick
from tests.factories import VILLAGE
from tests.households import id_number
from workflows.env import Env


def test_amounts_typed_in_yuan_become_whole_fen_and_anything_else_is_refused() -> None:
    assert yuan_to_fen("480") == 48_000
    assert yuan_to_fen("480.5") == 48_050
    assert yuan_to_fen("¥1,800.00") == 180_000
    assert yuan_to_fen("0.01") == 1
    assert yuan_to_fen("4.805") is None
    assert yuan_to_fen("-3") is None
    assert yuan_to_fen("四百") is None


def test_the_house_visit_form_is_built_from_its_data_model_with_the_villages_officials_to_pick() -> None:
    controls = {c.key: c for c in form_for("village_pass", [("village1", "陈村干"), ("village1b", "王村干")])}
    assert controls["investigators"].kind == "investigators"
    assert controls["investigators"].options == [("village1", "陈村干"), ("village1b", "王村干")]
    assert controls["visit_date"].kind == "date"
    assert controls["proposed_monthly_fen"].kind == "fen"
    assert [c.key for c in controls["appraisal"].children] == ["for", "against", "abstain"]
    assert controls["comment"].kind == "textarea"


def test_a_filled_house_visit_form_reads_back_as_the_data_the_api_takes() -> None:
    controls = form_for("village_pass", [("village1", "陈村干"), ("village1b", "王村干")])
    form = FormData(
        [
            ("investigators", "village1"),
            ("investigators", "village1b"),
            ("visit_date", "2026-10-28"),
            ("appraisal.for", "15"),
            ("appraisal.against", "1"),
            ("appraisal.abstain", "0"),
            ("proposed_monthly_fen", "480.50"),
        ]
    )
    filled = read_form(form, controls, form.getlist)
    assert filled.errors == []
    assert filled.data == {
        "investigators": ["village1", "village1b"],
        "visit_date": "2026-10-28",
        "appraisal": {"for": 15, "against": 1, "abstain": 0},
        "proposed_monthly_fen": 48_050,
    }


def test_P4_the_cross_check_form_picks_the_member_from_the_household_and_reads_back_as_the_api_takes_it() -> None:
    household = [("1", "周老根"), ("2", "吴桂芝")]
    controls = form_for("record_verification", members=household)
    by_key = {c.key: c for c in controls}
    assert (by_key["member"].kind, by_key["member"].options) == ("member", household)
    assert (by_key["monthly_income_fen"].kind, by_key["assets_fen"].kind) == ("fen", "fen")
    assert by_key["findings"].kind == "textarea"
    form = FormData(
        [("member", "2"), ("monthly_income_fen", "300"), ("assets_fen", "2,000.50"), ("findings", "名下无车辆")]
    )
    filled = read_form(form, controls, form.getlist)
    assert filled.errors == []
    assert filled.data == {"member": 2, "monthly_income_fen": 30_000, "assets_fen": 200_050, "findings": "名下无车辆"}
    bad = FormData([("member", "周老根")])
    assert [
        name for name, _ in read_form(bad, form_for("record_verification", members=household), bad.getlist).errors
    ] == ["member"]
    placed = place_reasons(
        ["请写明异议的理由和证据 / give the grounds and evidence of the dispute (evidence)"],
        form_for("dispute_verification", members=household),
    )
    assert placed[0][0] == "evidence"


def test_an_amount_that_is_not_yuan_is_refused_beside_its_field_before_the_act_is_tried() -> None:
    controls = form_for("approve")
    form = FormData([("monthly_amount_fen", "480元5角")])
    filled = read_form(form, controls, form.getlist)
    assert [name for name, _message in filled.errors] == ["monthly_amount_fen"]
    assert "monthly_amount_fen" not in filled.data


def test_each_guard_reason_is_placed_beside_the_field_it_names() -> None:
    controls = form_for("village_pass", [])
    placed = {
        reason[:6]: name
        for name, reason in place_reasons(
            [
                "入户调查须至少 2 名调查人员签字，请列出全部调查人员 / the house visit needs 2 investigators",
                "请填写入户调查日期（YYYY-MM-DD）/ give the date of the house visit (YYYY-MM-DD)",
                "民主评议票数须为 for/against/abstain 三个非负整数 / appraisal needs for, against, abstain counts",
            ],
            controls,
        )
    }
    assert placed == {"入户调查须至": "investigators", "请填写入户调": "visit_date", "民主评议票数": "appraisal"}


def test_a_reason_in_both_languages_is_split_where_the_english_begins() -> None:
    both = "请填写入户调查日期（YYYY-MM-DD）/ give the date of the house visit (YYYY-MM-DD)"
    assert pick(both, "zh") == "请填写入户调查日期（YYYY-MM-DD）"
    assert pick(both, "en") == "Give the date of the house visit (YYYY-MM-DD)"
    assert (
        pick("民主评议票数须为 for/against/abstain 三个非负整数 / appraisal", "zh")
        == "民主评议票数须为 for/against/abstain 三个非负整数"
    )


def test_a_reason_about_an_amount_in_fen_is_told_without_the_unit_on_a_form_in_yuan() -> None:
    placed = place_reasons(
        ["请填写拟保障月金额（分，正整数）/ give proposed_monthly_fen (a positive whole number of fen)"],
        form_for("village_pass", []),
    )
    assert [name for name, _reason in placed] == ["proposed_monthly_fen"]
    assert pick(placed[0][1], "zh") == "请填写拟保障月金额"
    assert pick(placed[0][1], "en") == "Give proposed_monthly_fen"


def test_a_cases_steps_are_its_workflows_forward_way_with_detours_shown_only_where_the_case_is() -> None:
    env = Env.load(None, "k" * 40)
    standard = next(d for d in env.definitions() if d.key == "standard")
    assert main_path(standard) == [
        "draft",
        "village_review",
        "notice_village",
        "township_review",
        "notice_township",
        "township_approval",
        "notice_final",
        "active",
    ]
    waiting = steps_of(standard, "awaiting_info", [])
    assert [s.state for s in waiting][:3] == ["draft", "awaiting_info", "village_review"]
    assert [s.state for s in waiting if s.present] == ["awaiting_info"]


def _tekun_draft() -> Draft:
    head = id_number("19500101", 81, VILLAGE)
    return Draft(
        single={"aid_type": "tekun", "village": VILLAGE, "phone": "13800002222", "reason": "年老无依", "assets": "0"},
        members=[
            {
                "name": "王老汉",
                "id_number": head,
                "relation": "本人",
                "income": "0",
                "disability_category": "physical",
                "disability_grade": "2",
            }
        ],
        supporters=[
            {"name": "王大山", "id_number": id_number("19750303", 82, VILLAGE), "relation": "子女", "able": "no"}
        ],
    )


def test_a_tekun_filing_carries_its_supporters_and_the_members_disability_as_the_api_takes_them() -> None:
    checked, errors = check(_tekun_draft(), "zh")
    assert errors == []
    assert checked is not None
    assert checked.members[0].disability is not None
    assert checked.members[0].disability.grade == 2
    assert checked.intake.model_dump()["supporters"][0]["able_to_support"] is False


def test_a_wrong_check_digit_and_an_amount_not_in_yuan_are_told_beside_their_fields() -> None:
    draft = _tekun_draft()
    draft.members[0]["id_number"] = draft.members[0]["id_number"][:-1] + (
        "0" if draft.members[0]["id_number"][-1] != "0" else "1"
    )
    draft.members[0]["income"] = "三百"
    checked, errors = check(draft, "en")
    assert checked is None
    fields = dict(errors)
    assert "members-0-income" in fields
    assert "members-0-id_number" in fields
    assert "GB 11643" in fields["members-0-id_number"], "the server's own reason, in the reader's language"


def test_a_case_that_ended_shows_no_steps_after_its_end() -> None:
    env = Env.load(None, "k" * 40)
    standard = next(d for d in env.definitions() if d.key == "standard")
    steps = steps_of(standard, "rejected", [])
    assert [s.state for s in steps] == ["draft", "rejected"]
    assert steps[-1].present
