"""The policy file: every number of the aid workflows, per region (code prefix) and effective date."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any

from engine.calendar import Delay, Unit, WorkCalendar
from engine.errors import DefinitionInvalid

DEFAULT_PATH = Path(__file__).with_name("policy_default.toml")
# The defaults no rule gives: invented to make the defaults whole (marked "example" in
# policy_default.toml). A region still running on one of them is warned of when the server starts.
EXAMPLE_KEYS: tuple[tuple[str, ...], ...] = (
    ("standard", "dibao_standard_fen"),
    ("standard", "assets_months_per_person"),
    ("standard", "info_due_max_days"),
    ("standard", "tekun_care_allowance_fen", "partial"),
    ("standard", "tekun_care_allowance_fen", "dependent"),
    ("emergency", "post_notice"),
    ("appeal", "review_body"),
    ("review", "voluntary_exit_months"),
    ("temporary", "cause_cap_fen_year", "education"),
    ("temporary", "cause_cap_fen_year", "disability"),
    ("temporary", "cause_cap_fen_year", "other"),
    ("verification", "max_age_days"),
)
NOTICE_SLOTS = ("village", "township", "final")
_NOTICE_UNITS = (Unit.DAYS, Unit.WORKING_DAYS)


@dataclass(frozen=True)
class NoticeStage:
    """One public notice: the slot it follows, its label, how long it runs."""

    name: str
    label: str
    length: int
    unit: Unit

    @property
    def state(self) -> str:
        return f"notice_{self.name}"

    @property
    def delay(self) -> Delay:
        return Delay(self.length, self.unit)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "length": self.length, "unit": str(self.unit)}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], *, name: str | None = None) -> NoticeStage:
        unit = Unit(str(raw.get("unit", "days")))
        length = raw["length"]
        if unit not in _NOTICE_UNITS:
            raise ValueError(f"notice unit must be days or working_days, not {unit}")
        if not isinstance(length, int) or length < 1:
            raise ValueError(f"notice length must be a positive whole number, not {length!r}")
        return cls(name=name or str(raw["name"]), label=str(raw.get("label", "")), length=length, unit=unit)


def _delay(raw: Mapping[str, Any]) -> Delay:
    length = raw["length"]
    if not isinstance(length, int):
        raise ValueError(f"length must be a whole number, not {length!r}")
    return Delay(length, Unit(str(raw.get("unit", "days"))))


def _fen(raw: Any, name: str) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 0:
        raise ValueError(f"{name} must be a whole, non-negative number of fen, not {raw!r}")
    return raw


def _multiple(raw: Any, name: str) -> Fraction:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
        raise ValueError(f"{name} must be a positive number, not {raw!r}")
    return Fraction(str(raw))


def _months(raw: Any, name: str) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 1:
        raise ValueError(f"{name} must be a positive whole number of months, not {raw!r}")
    return raw


VOLUNTARY_EXIT_MONTHS_MAX = 3  # E7: the seed's range is 1-3 months


def _exit_months(raw: Any) -> int:
    """E7: the seed says 1-3 months; 0 (nothing after the exit) is a region's choice too."""
    if not isinstance(raw, int) or isinstance(raw, bool) or not 0 <= raw <= VOLUNTARY_EXIT_MONTHS_MAX:
        raise ValueError(
            f"voluntary_exit_months must be a whole number from 0 to {VOLUNTARY_EXIT_MONTHS_MAX}, not {raw!r}"
        )
    return raw


def _fine_range(raw: Any) -> tuple[Fraction, Fraction]:
    if not isinstance(raw, list) or len(raw) != 2:
        raise ValueError(f"fraud_fine_multiple must be [lowest, highest], not {raw!r}")
    low, high = (Fraction(str(x)) for x in raw)
    if not 0 < low <= high:
        raise ValueError(f"fraud_fine_multiple must be [lowest, highest] with 0 < lowest <= highest, not {raw!r}")
    return low, high


@dataclass(frozen=True)
class Appraisal:
    quorum: int
    pass_share: Fraction
    strictly_more: bool

    def passes(self, votes_for: int, votes_cast: int) -> bool:
        needed = self.pass_share * votes_cast
        return votes_for > needed if self.strictly_more else votes_for >= needed


_INVESTIGATOR_ROLES = ("village_officer", "township_officer", "county_officer")


def _roles(raw: Any) -> tuple[str, ...]:
    roles = tuple(str(r) for r in raw) if isinstance(raw, list) else ()
    if not roles or any(r not in _INVESTIGATOR_ROLES for r in roles):
        raise ValueError(f"investigator_roles must be a non-empty list of {_INVESTIGATOR_ROLES}: {raw!r}")
    return roles


_WD30, _WD45, _WD3 = (Delay(n, Unit.WORKING_DAYS) for n in (30, 45, 3))  # the defaults of P9, P11
CARE_LEVELS = ("independent", "partial", "dependent")
DISABILITY_CATEGORIES = ("physical", "intellectual", "mental", "visual", "hearing", "speech", "multiple")


@dataclass(frozen=True)
class TekunRules:
    """特困人员救助供养 (domain.md §4): the numbers its guards and amount rule read."""

    investigation: Delay  # T3
    standard_fen: int  # T9
    assets_months_per_person: int  # T1
    elderly_age: int  # T2
    minor_age: int  # T2
    disability_grades: Mapping[str, frozenset[int]]  # T2
    care_allowance_fen: Mapping[str, int]  # T5

    @classmethod
    def parse(cls, std: Mapping[str, Any]) -> TekunRules:
        grades = dict(std["tekun_disability_grades"])
        unknown = sorted(set(grades) - set(DISABILITY_CATEGORIES))
        if unknown:
            raise ValueError(f"tekun_disability_grades: unknown categories {unknown}")
        for category, listed in grades.items():
            if not isinstance(listed, list) or any(g not in (1, 2, 3, 4) for g in listed):
                raise ValueError(f"tekun_disability_grades.{category} must list grades from 1 to 4")
        care = dict(std["tekun_care_allowance_fen"])
        if set(care) != set(CARE_LEVELS):
            raise ValueError(f"tekun_care_allowance_fen must give exactly {CARE_LEVELS}")
        wd = std["tekun_investigation_wd"]
        if not isinstance(wd, int) or isinstance(wd, bool) or wd < 1:
            raise ValueError(f"tekun_investigation_wd must be a positive whole number, not {wd!r}")
        return cls(
            investigation=Delay(wd, Unit.WORKING_DAYS),
            standard_fen=_fen(std["tekun_standard_fen"], "tekun_standard_fen"),
            assets_months_per_person=_months(std["tekun_assets_months_per_person"], "tekun_assets_months_per_person"),
            elderly_age=_months(std["tekun_elderly_age"], "tekun_elderly_age"),
            minor_age=_months(std["tekun_minor_age"], "tekun_minor_age"),
            disability_grades={c: frozenset(g) for c, g in grades.items()},
            care_allowance_fen={level: _fen(care[level], f"tekun_care_allowance_fen.{level}") for level in CARE_LEVELS},
        )


_VERIFICATION_START = Delay(3, Unit.WORKING_DAYS)


@dataclass(frozen=True)
class VerificationRules:
    """家庭经济状况核对 (P4, P5, D6): when a report is needed, how old it may be, how soon it starts."""

    required_before_opinion: bool = True  # the township's opinion (township_pass) needs a report per member
    required_for_review: bool = True  # D6: a periodic review ends (continue, adjust) on a fresh report
    max_age_days: int = 90  # a report older than this does not count
    start_within: Delay = _VERIFICATION_START  # P4: the check starts within it of the request

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> VerificationRules:
        start, age = raw.get("start_within_wd", 3), raw.get("max_age_days", 90)
        for name, value in (("start_within_wd", start), ("max_age_days", age)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"verification {name} must be a positive whole number, not {value!r}")
        return cls(
            required_before_opinion=bool(raw.get("required_before_opinion", True)),
            required_for_review=bool(raw.get("required_for_review", True)),
            max_age_days=age,
            start_within=Delay(start, Unit.WORKING_DAYS),
        )


TEMPORARY_CAUSES = ("illness", "education", "disability", "other")
DEDUCTIBLE_SPENDING = ("medical", "disability_care", "education")  # E4: 刚性支出 the income test may deduct


@dataclass(frozen=True)
class TemporaryRules:
    """支出型临时救助 on the normal channel (K2, K5-K7): its notice, clock, limits and caps per cause."""

    notice: NoticeStage  # K2: one notice within the total
    total: Delay  # K2: accepted to decided
    township_limit_fen: int  # K5: what the township decides alone, per grant
    cap_multiple: int  # K6: at most this many months of the dibao standard per grant
    cause_cap_fen_year: Mapping[str, int]  # K6: per cause, per household, per calendar year
    instalments_max_months: int  # K6: lasting hardship paid monthly, at most this many months
    per_cause_per_year: int  # K7

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> TemporaryRules:
        caps = dict(raw["cause_cap_fen_year"])
        if set(caps) != set(TEMPORARY_CAUSES):
            raise ValueError(f"temporary.cause_cap_fen_year must give exactly {TEMPORARY_CAUSES}")
        months = _months(raw["instalments_max_months"], "instalments_max_months")
        if months < 1:
            raise ValueError("instalments_max_months must be at least 1")
        return cls(
            notice=NoticeStage.from_json(raw["notice"], name="temporary"),
            total=_delay(raw["total"]),
            township_limit_fen=_fen(raw["township_limit_fen"], "temporary.township_limit_fen"),
            cap_multiple=_months(raw["cap_multiple_of_standard"], "temporary.cap_multiple_of_standard"),
            cause_cap_fen_year={c: _fen(caps[c], f"temporary.cause_cap_fen_year.{c}") for c in TEMPORARY_CAUSES},
            instalments_max_months=months,
            per_cause_per_year=_months(raw["per_cause_per_year"], "temporary.per_cause_per_year"),
        )


@dataclass(frozen=True)
class Rules:
    """The policy in force for one region on one day, parsed and checked."""

    notice_stages: tuple[NoticeStage, ...]
    township_opinion: Delay
    decision_after_notice: Delay
    approval_delegated: bool
    investigators_min: int
    dibao_standard_fen: int
    single_person_multiple: Fraction
    assets_months_per_person: int
    appraisal: Appraisal
    review_stable_months: int
    review_unstable_months: int
    grace_months: int
    termination_notice_for: frozenset[str]
    termination_approved_by_county_for: frozenset[str]
    suspension_months: int | None
    termination_notice: NoticeStage
    emergency_township_limit_fen: int
    emergency_cap_multiple: int
    emergency_paperwork: Delay
    emergency_post_notice: NoticeStage
    grants_per_cause_per_year: int
    payment_start_months: int
    tekun: TekunRules  # 特困: its standard, asset rule, work capacity and care allowances
    temporary: TemporaryRules  # 支出型临时救助 (K2, K5-K7)
    village_review: Delay | None = None  # when a region sets one: the village review is due within it
    objection_review: Delay | None = None  # an objection is decided within it; a breach is flagged
    emergency_first_aid: Delay | None = None  # an emergency is decided within it; a breach is flagged
    investigator_roles: tuple[str, ...] = ("village_officer",)  # P3: who may sign the house visit
    info_due_max_days: int = 30  # P1: the longest a request for information may give the household
    appeal_review_days: int = 60  # 行政复议: sought within this many days of learning of the decision
    appeal_lawsuit_months: int = 6  # 行政诉讼: brought within this many months
    appeal_review_body: str = "县人民政府 / the county people's government"
    objection_contact: str = "乡镇人民政府社会救助经办窗口 / the township government's social assistance desk"
    watch_income_multiple: Fraction = Fraction(3, 2)  # 潜在救助对象: per-person income under this x the standard
    watch_follow_up_months: int = 6  # and visited again at this interval
    income_threshold_multiple: Fraction = Fraction(1)  # E1: income within this multiple of the standard
    income_equal_qualifies: bool = True  # E1 (方案9 "1倍(含)"): income equal to the threshold qualifies
    payment_cap_multiple: Fraction = Fraction(1)  # a person's monthly amount at most this multiple of the standard
    grants_per_cause_window_years: int = 1  # K7: calendar years counted for the once-per-cause rule
    payment_run_months_ahead: int = 1  # how far ahead a month's payment run may be prepared
    minor_age: int = 18  # P17: under this age an applicant is a minor (not posted for 特困)
    total: Delay = _WD30  # P9: the whole case from acceptance, notices left out
    total_extended: Delay = _WD45  # P9: once extended with a reason
    rejection_notice: Delay = _WD3  # P11: a refusal's reasons delivered within it
    verification: VerificationRules = VerificationRules()  # 核对 (P4, P5, D6)
    expenditure_deductions: frozenset[str] = frozenset()  # E4: rigid spending the dibao income test deducts
    margin_income_multiple: Fraction = Fraction(3, 2)  # E3: 低保边缘 up to this x the standard
    delegated_filing_wd: int = 5  # Delegation: a delegated decision is filed with the county within it
    county_sample_ratio: Fraction = Fraction(3, 10)  # P14: the share of delegated decisions the county visits
    unclaimed_cancel_months: int | None = 6  # D3: support ends after this many months unclaimed in a row
    voluntary_exit_months: int = 1  # E7: months paid after a voluntary exit
    fraud_fine_multiple: tuple[Fraction, Fraction] = (Fraction(1), Fraction(3))  # D4: the fine's range
    job_refusals_before_cut: int = 3  # E5: offered jobs a capable member may refuse before support is cut

    @property
    def emergency_township_ceiling_fen(self) -> int:
        """What a township may grant at once: its limit, and never more than the K6 cap."""
        return min(self.emergency_township_limit_fen, self.emergency_cap_multiple * self.dibao_standard_fen)

    @property
    def income_threshold_fen(self) -> Fraction:
        """E1: the per-capita monthly income a household must stay within."""
        return self.income_threshold_multiple * self.dibao_standard_fen

    def income_qualifies(self, per_head: Fraction) -> bool:
        """E1: within the threshold (equal to it too where the policy says so)."""
        threshold = self.income_threshold_fen
        return per_head <= threshold if self.income_equal_qualifies else per_head < threshold

    @property
    def assets_limit_per_person_fen(self) -> int:
        return self.assets_months_per_person * self.dibao_standard_fen

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Rules:
        std, review, emergency = raw["standard"], raw["review"], raw["emergency"]
        appeal = raw.get("appeal") or {}
        supervision = raw.get("supervision") or {}
        stages = tuple(NoticeStage.from_json(s) for s in std["notice_stages"])
        names = [s.name for s in stages]
        if (
            any(n not in NOTICE_SLOTS for n in names)
            or names != sorted(names, key=NOTICE_SLOTS.index)
            or len(set(names)) != len(names)
        ):
            raise ValueError(f"notice stages must be some of {NOTICE_SLOTS}, each once, in that order: {names}")
        appraisal = std["appraisal"]
        if appraisal["pass_denominator"] <= 0 or appraisal["quorum"] < 1:
            raise ValueError("appraisal quorum and pass_denominator must be positive")
        share = Fraction(appraisal["pass_numerator"], appraisal["pass_denominator"])
        multiple = Fraction(str(std["single_person_income_multiple"]))
        if multiple < 1:
            raise ValueError("single_person_income_multiple must be at least 1")
        investigators = std["investigators_min"]
        if not isinstance(investigators, int) or investigators < 1:
            raise ValueError("investigators_min must be a positive whole number")
        return cls(
            notice_stages=stages,
            township_opinion=_delay(std["township_opinion"]),
            decision_after_notice=_delay(std["decision_after_notice"]),
            approval_delegated=bool(std["approval_delegated_to_township"]),
            investigators_min=investigators,
            dibao_standard_fen=_fen(std["dibao_standard_fen"], "dibao_standard_fen"),
            single_person_multiple=multiple,
            assets_months_per_person=_months(std["assets_months_per_person"], "assets_months_per_person"),
            appraisal=Appraisal(appraisal["quorum"], share, bool(appraisal["strictly_more"])),
            review_stable_months=_months(review["stable_months"], "stable_months"),
            review_unstable_months=_months(review["unstable_months"], "unstable_months"),
            grace_months=_months(review["grace_months"], "grace_months"),
            termination_notice_for=frozenset(str(a) for a in review["termination_notice_for"]),
            termination_approved_by_county_for=frozenset(
                str(a) for a in review.get("termination_approved_by_county_for", [])
            ),
            suspension_months=(
                _months(review["suspension_months"], "suspension_months") if review.get("suspension_months") else None
            ),
            termination_notice=NoticeStage.from_json(review["termination_notice"], name="termination"),
            emergency_township_limit_fen=_fen(emergency["township_limit_fen"], "township_limit_fen"),
            emergency_cap_multiple=_months(emergency["cap_multiple_of_standard"], "cap_multiple_of_standard"),
            emergency_paperwork=_delay(emergency["paperwork"]),
            emergency_post_notice=NoticeStage.from_json(emergency["post_notice"], name="post"),
            grants_per_cause_per_year=_months(emergency["grants_per_cause_per_year"], "grants_per_cause_per_year"),
            payment_start_months=int(raw["payments"]["start_months_after_activation"]),
            tekun=TekunRules.parse(std),
            temporary=TemporaryRules.parse(raw["temporary"]),
            village_review=_delay(std["village_review"]) if std.get("village_review") else None,
            objection_review=_delay(std["objection_review"]) if std.get("objection_review") else None,
            emergency_first_aid=_delay(emergency["first_aid"]) if emergency.get("first_aid") else None,
            investigator_roles=_roles(std.get("investigator_roles", ["village_officer"])),
            info_due_max_days=_months(std.get("info_due_max_days", 30), "info_due_max_days"),
            appeal_review_days=_months(appeal.get("review_days", 60), "appeal review_days"),
            appeal_lawsuit_months=_months(appeal.get("lawsuit_months", 6), "appeal lawsuit_months"),
            appeal_review_body=str(appeal.get("review_body", "县人民政府 / the county people's government")),
            objection_contact=str((raw.get("public") or {}).get("objection_contact", cls.objection_contact)),
            watch_income_multiple=Fraction(str(raw.get("watch_list", {}).get("income_multiple", "1.5"))),
            watch_follow_up_months=_months(raw.get("watch_list", {}).get("follow_up_months", 6), "follow_up_months"),
            income_threshold_multiple=_multiple(std.get("income_threshold_multiple", 1), "income_threshold_multiple"),
            income_equal_qualifies=bool(std.get("income_equal_qualifies", True)),
            payment_cap_multiple=_multiple(std.get("payment_cap_multiple", 1), "payment_cap_multiple"),
            grants_per_cause_window_years=_months(
                emergency.get("grants_per_cause_window_years", 1), "grants_per_cause_window_years"
            ),
            payment_run_months_ahead=int(raw["payments"].get("run_months_ahead", 1)),
            minor_age=_months((raw.get("public") or {}).get("minor_age", 18), "minor_age"),
            total=Delay(_months(std.get("total_wd", 30), "total_wd"), Unit.WORKING_DAYS),
            total_extended=Delay(_months(std.get("extended_wd", 45), "extended_wd"), Unit.WORKING_DAYS),
            rejection_notice=Delay(
                _months(std.get("rejection_notice_wd", 3), "rejection_notice_wd"), Unit.WORKING_DAYS
            ),
            verification=VerificationRules.parse(raw.get("verification") or {}),
            expenditure_deductions=_deductions(std.get("expenditure_deductions", [])),
            margin_income_multiple=_at_least_one(std.get("margin_income_multiple", "1.5"), "margin_income_multiple"),
            delegated_filing_wd=_months(supervision.get("delegated_filing_wd", 5), "delegated_filing_wd"),
            county_sample_ratio=_ratio(supervision.get("county_sample_ratio", "0.30")),
            unclaimed_cancel_months=(
                _months(review["unclaimed_cancel_months"], "unclaimed_cancel_months")
                if review.get("unclaimed_cancel_months")
                else None
            ),
            voluntary_exit_months=_exit_months(review.get("voluntary_exit_months", 1)),
            fraud_fine_multiple=_fine_range(review.get("fraud_fine_multiple", [1, 3])),
            job_refusals_before_cut=_months(review.get("job_refusals_before_cut", 3), "job_refusals_before_cut"),
        )


def _deductions(raw: Any) -> frozenset[str]:
    listed = list(raw) if isinstance(raw, list) else None
    if listed is None or any(d not in DEDUCTIBLE_SPENDING for d in listed):
        raise ValueError(f"expenditure_deductions must list some of {DEDUCTIBLE_SPENDING}, not {raw!r}")
    return frozenset(str(d) for d in listed)


def _at_least_one(raw: Any, name: str) -> Fraction:
    found = Fraction(str(raw))
    if found < 1:
        raise ValueError(f"{name} must be at least 1")
    return found


def _ratio(raw: Any) -> Fraction:
    share = Fraction(str(raw))
    if not 0 < share <= 1:
        raise ValueError(f"county_sample_ratio must be above 0 and at most 1, not {raw!r}")
    return share


@dataclass(frozen=True)
class Override:
    region: str
    effective_from: date
    values: Mapping[str, Any]


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; anything else (numbers, lists) replaces."""
    merged = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _at(raw: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    found: Any = raw
    for key in path:
        found = found.get(key) if isinstance(found, Mapping) else None
    return found


def _as_date(raw: Any) -> date:
    if isinstance(raw, date):
        return raw
    return date.fromisoformat(str(raw))


class Policy:
    """The defaults, a deployment's file over them, and regional overrides by date."""

    def __init__(self, base: Mapping[str, Any], overrides: tuple[Override, ...], source: str) -> None:
        self.base = dict(base)
        self.overrides = tuple(sorted(overrides, key=lambda o: (len(o.region), o.effective_from)))
        self.source = source
        self._cache: dict[tuple[tuple[int, ...], ...], Rules] = {}
        self._validate()

    @classmethod
    def load(cls, path: str | Path | None = None) -> Policy:
        """The defaults, with the file at `path` (if any) merged over them."""
        raw = tomllib.loads(DEFAULT_PATH.read_text(encoding="utf-8"))
        source = str(DEFAULT_PATH)
        if path:
            try:
                extra = tomllib.loads(Path(path).read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise DefinitionInvalid(f"策略文件无法读取 / policy file {path} cannot be read: {exc}") from exc
            overrides = [*raw.pop("override", []), *extra.pop("override", [])]
            raw = _merge(raw, extra)
            raw["override"] = overrides
            source = f"{DEFAULT_PATH} + {path}"
        return cls.from_mapping(raw, source=source)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], *, source: str = "<mapping>") -> Policy:
        body = {k: v for k, v in raw.items() if k != "override"}
        overrides = []
        for item in raw.get("override", []):
            region = str(item.get("region", ""))
            if region and not region.isdigit():
                raise DefinitionInvalid(f"override region must be a code prefix, not {region!r}")
            values = {k: v for k, v in item.items() if k not in ("region", "effective_from")}
            overrides.append(Override(region, _as_date(item.get("effective_from", "1970-01-01")), values))
        return cls(body, tuple(overrides), source)

    def with_overrides(self, *extra: Override) -> Policy:
        """This policy with more overrides (for tests and rehearsals)."""
        return Policy(self.base, (*self.overrides, *extra), self.source)

    def _validate(self) -> None:
        try:
            self.calendar()
            Rules.parse(self.base)
            for override in self.overrides:
                Rules.parse(self._merged(override.region.ljust(12, "0"), override.effective_from))
        except (KeyError, TypeError, ValueError) as exc:
            raise DefinitionInvalid(f"策略文件无效 / policy {self.source} is invalid: {exc!r}") from exc

    def _applicable(self, region_code: str, on: date) -> tuple[Override, ...]:
        return tuple(o for o in self.overrides if region_code.startswith(o.region) and o.effective_from <= on)

    def _merged(self, region_code: str, on: date) -> dict[str, Any]:
        merged = dict(self.base)
        for override in self._applicable(region_code, on):
            merged = _merge(merged, override.values)
        return merged

    def rules(self, region_code: str, on: date) -> Rules:
        """The rules in force in `region_code` on the day `on`."""
        applicable = self._applicable(region_code, on)
        key = tuple((self.overrides.index(o),) for o in applicable)
        found = self._cache.get(key)
        if found is None:
            merged = dict(self.base)
            for override in applicable:
                merged = _merge(merged, override.values)
            found = Rules.parse(merged)
            self._cache[key] = found
        return found

    def all_rules(self) -> list[Rules]:
        """The rules of the base and of every override as it first applies (for the registry)."""
        found = [Rules.parse(self.base)]
        found.extend(self.rules(o.region.ljust(12, "0"), o.effective_from) for o in self.overrides)
        return found

    def examples_in_force(self, on: date) -> dict[str, list[str]]:
        """Where the policy still runs on an example value on `on`: by region ("" everywhere no override
        reaches, else each override's region), the keys (dotted) whose value is still the example."""
        defaults = tomllib.loads(DEFAULT_PATH.read_text(encoding="utf-8"))
        found: dict[str, list[str]] = {}
        for region in sorted({"", *(o.region for o in self.overrides)}):
            merged = self._merged(region.ljust(12, "0"), on)
            keys = [".".join(path) for path in EXAMPLE_KEYS if _at(merged, path) == _at(defaults, path)]
            if keys:
                found[region] = keys
        return found

    def example_warning(self, on: date) -> str | None:
        """The start-up warning naming the regions and keys still on an example value, if any."""
        found = self.examples_in_force(on)
        if not found:
            return None
        listed = "；".join(f"{region or '全部地区 / everywhere'}: {', '.join(keys)}" for region, keys in found.items())
        return (
            f"以下地区仍在使用示例取值，请按当地政策设置 / these regions still run on example values; set the "
            f"local ones in the policy file: {listed}"
        )

    def calendar(self) -> WorkCalendar:
        """The working-day calendar with the policy's holidays, make-up days and published years."""
        cal = self.base.get("calendar", {})
        holidays = [_as_date(d) for d in cal.get("extra_holidays", [])]
        workdays = [_as_date(d) for d in cal.get("extra_workdays", [])]
        published = [int(y) for y in cal.get("published_years", [])]
        listed = {d.year for d in holidays}
        calendar = WorkCalendar.with_overrides(holidays=holidays, workdays=workdays, published_years=published)
        # Every notice gives weekdays off beyond the statutory ones: a year marked published with none
        # listed is a year whose notice was not copied in, and would silently lose its provisional mark.
        missing = "、".join(str(y) for y in published if not calendar.knows_year(y) and y not in listed)
        if missing:
            raise DefinitionInvalid(
                f"策略 [calendar] 将 {missing} 年标为已公布，却未在 extra_holidays 中列出其放假日期 / "
                f"policy {self.source} marks {missing} as published in [calendar] but lists none of its "
                "holidays in extra_holidays"
            )
        return calendar
