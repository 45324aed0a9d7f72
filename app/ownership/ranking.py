"""The red/black list (红黑榜): units and leaders ranked for a period by five rates, with the
formulas, weights and cut-offs as data a county can change.

"市信访联席办每日以红黑榜形式通报晾晒信访工作指数" (seed 002); the rates are those the
practice reports (seed 000: 当场答复办结率达76.74%):

- 及时受理率 — routing decisions taken within the `accept` (or `route`) limit / decisions;
- 按期办结率 — replies issued within the handling limit (with its lawful extension) / replies;
- 参评率 — replies the petitioner rated / replies;
- 满意率 — ratings counted as satisfied (满意, and 基本满意 unless configured otherwise) / ratings;
- 当场答复办结率 — receptions answered and settled on the spot / receptions.

Pure: counts in, rates, scores and the list out.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, NamedTuple

import msgspec


class Metric(StrEnum):
    timely_acceptance = "timely_acceptance"
    on_time_reply = "on_time_reply"
    participation = "participation"
    satisfaction = "satisfaction"
    on_the_spot = "on_the_spot"


METRIC_LABELS: Final[Mapping[Metric, str]] = {
    Metric.timely_acceptance: "及时受理率",
    Metric.on_time_reply: "按期办结率",
    Metric.participation: "参评率",
    Metric.satisfaction: "满意率",
    Metric.on_the_spot: "当场答复办结率",
}

METRIC_FORMULAS: Final[Mapping[Metric, str]] = {
    Metric.timely_acceptance: "期限内作出受理、转送交办等处理的件数 ÷ 作出处理的件数",
    Metric.on_time_reply: "在办理期限（含依法延长）内出具处理意见书的件数 ÷ 出具处理意见书的件数",
    Metric.participation: "信访人作出评价的件数 ÷ 出具处理意见书的件数",
    Metric.satisfaction: "评价为满意（及基本满意）的件数 ÷ 评价件数",
    Metric.on_the_spot: "当场答复办结的接访批次 ÷ 接访批次",
}


class Standing(StrEnum):
    red = "red"
    black = "black"
    middle = "middle"
    unranked = "unranked"


STANDING_LABELS: Final[Mapping[Standing, str]] = {
    Standing.red: "红榜",
    Standing.black: "黑榜",
    Standing.middle: "—",
    Standing.unranked: "件数不足，不排名",
}


@dataclass(frozen=True, slots=True)
class Rules:
    """How the list is drawn: each rate's weight in the index (weights sum to anything;
    the index is their weighted mean over the rates that have cases), the index at or above
    which a row is on the red list, below which on the black list, how many of the best
    and the worst ranked rows are listed whatever their index, the fewest counted items a
    row needs to be ranked, and whether 基本满意 counts as satisfied."""

    weights: Mapping[Metric, int] = field(
        default_factory=lambda: {
            Metric.timely_acceptance: 20,
            Metric.on_time_reply: 30,
            Metric.participation: 10,
            Metric.satisfaction: 25,
            Metric.on_the_spot: 15,
        }
    )
    red_at: float = 0.9
    black_below: float = 0.6
    red_top: int = 3
    black_bottom: int = 3
    min_items: int = 3
    basically_is_satisfied: bool = True


DEFAULT_RULES: Final = Rules()


class RulesFile(msgspec.Struct, forbid_unknown_fields=True):
    """The JSON a county may give (JIEFANG_RANKING_FILE): every field optional, cut-offs
    in per cent, e.g. {"weights": {"satisfaction": 40, "on_the_spot": 0}, "red_at": 95}."""

    weights: dict[str, int] = msgspec.field(default_factory=dict)
    red_at: int | None = None
    black_below: int | None = None
    red_top: int | None = None
    black_bottom: int | None = None
    min_items: int | None = None
    basically_is_satisfied: bool | None = None


def rules_from_json(data: bytes) -> Rules:
    """Rules from a county's file on top of the defaults; ValueError says what is wrong."""
    try:
        given = msgspec.json.decode(data, type=RulesFile)
    except (msgspec.DecodeError, msgspec.ValidationError) as bad:
        raise ValueError(f"红黑榜规则文件有误：{bad}") from None
    unknown = sorted(set(given.weights) - {str(m) for m in Metric})
    if unknown or any(w < 0 for w in given.weights.values()):
        raise ValueError(f"红黑榜权重须为已知指标的非负整数：{unknown or given.weights}")
    weights = {**DEFAULT_RULES.weights, **{Metric(k): w for k, w in given.weights.items()}}
    red = DEFAULT_RULES.red_at if given.red_at is None else given.red_at / 100
    black = DEFAULT_RULES.black_below if given.black_below is None else given.black_below / 100
    if not 0 <= black <= red <= 1 or not any(weights.values()):
        raise ValueError("红黑榜分界须满足 0 ≤ 黑榜线 ≤ 红榜线 ≤ 100，且至少一项权重大于0")
    return Rules(
        weights=weights,
        red_at=red,
        black_below=black,
        red_top=DEFAULT_RULES.red_top if given.red_top is None else max(0, given.red_top),
        black_bottom=DEFAULT_RULES.black_bottom
        if given.black_bottom is None
        else max(0, given.black_bottom),
        min_items=DEFAULT_RULES.min_items if given.min_items is None else max(0, given.min_items),
        basically_is_satisfied=DEFAULT_RULES.basically_is_satisfied
        if given.basically_is_satisfied is None
        else given.basically_is_satisfied,
    )


@dataclass(frozen=True, slots=True)
class Counts:
    """The raw counts of one unit or leader for the period."""

    decisions: int = 0
    timely_decisions: int = 0
    #: Replies issued; of them, those the petitioner has rated.
    replies: int = 0
    rated_replies: int = 0
    #: Handling clocks (handle/extend) stopped by a reply; of them, those within the limit.
    timed_replies: int = 0
    on_time_replies: int = 0
    #: Ratings given in the period.
    rated: int = 0
    satisfied: int = 0
    basically: int = 0
    receptions: int = 0
    on_the_spot: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(getattr(self, f) + getattr(other, f) for f in Counts.__dataclass_fields__))


class Rate(NamedTuple):
    """A rate's two counts (a tuple: a province's list makes tens of thousands of them)."""

    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None


#: The metrics in their order, read once (an enum member's lookup is slow in a loop).
_METRICS: Final = tuple(Metric)
#: A `Rate` made in C: a NamedTuple's own constructor is a Python function, and a
#: province's list makes some 40,000 rates.
_rate = functools.partial(tuple.__new__, Rate)


def _pairs(counts: Counts, rules: Rules) -> tuple[tuple[int, int], ...]:
    """Each metric's (numerator, denominator), in the order of `Metric`."""
    good = counts.satisfied + (counts.basically if rules.basically_is_satisfied else 0)
    return (
        (counts.timely_decisions, counts.decisions),
        (counts.on_time_replies, counts.timed_replies),
        (counts.rated_replies, counts.replies),
        (good, counts.rated),
        (counts.on_the_spot, counts.receptions),
    )


def rates(counts: Counts, rules: Rules = DEFAULT_RULES) -> dict[Metric, Rate]:
    return _rates_of(_pairs(counts, rules))


def _rates_of(pairs: Iterable[tuple[int, int]]) -> dict[Metric, Rate]:
    return dict(zip(_METRICS, map(_rate, pairs), strict=True))


def _weights(rules: Rules) -> tuple[int, ...]:
    return tuple(max(rules.weights.get(m, 0), 0) for m in _METRICS)


def _weighted(pairs: Iterable[tuple[int, int]], weights: Iterable[int]) -> float | None:
    total, weight = 0.0, 0
    for (numerator, denominator), w in zip(pairs, weights, strict=True):
        if denominator and w:
            total, weight = total + w * numerator / denominator, weight + w
    return total / weight if weight else None


def index(measured: Mapping[Metric, Rate], rules: Rules = DEFAULT_RULES) -> float | None:
    """The weighted mean of the rates that have cases; None when none has."""
    return _weighted((measured.get(m, (0, 0)) for m in _METRICS), _weights(rules))


def items(counts: Counts) -> int:
    return counts.decisions + counts.replies + counts.receptions


def standing(score: float | None, counts: Counts, rules: Rules = DEFAULT_RULES) -> Standing:
    if score is None or items(counts) < rules.min_items:
        return Standing.unranked
    if score >= rules.red_at:
        return Standing.red
    if score < rules.black_below:
        return Standing.black
    return Standing.middle


@dataclass(frozen=True, slots=True)
class Row:
    key: int
    name: str
    counts: Counts
    rates: Mapping[Metric, Rate]
    score: float | None
    standing: Standing
    rank: int | None


def rank(named: Sequence[tuple[int, str, Counts]], rules: Rules = DEFAULT_RULES) -> list[Row]:
    """Rows ranked by index (highest first); unranked rows last, by name."""
    scored = []
    weights = _weights(rules)
    for key, name, counts in named:
        pairs = _pairs(counts, rules)
        measured = _rates_of(pairs)
        score = _weighted(pairs, weights)
        scored.append((key, name, counts, measured, score, standing(score, counts, rules)))
    ranked = sorted(
        (s for s in scored if s[5] is not Standing.unranked), key=lambda s: (-(s[4] or 0), s[1])
    )
    rest = sorted((s for s in scored if s[5] is Standing.unranked), key=lambda s: s[1])
    rows = [
        Row(*s[:5], standing=by_place(s[5], i + 1, len(ranked), rules), rank=i + 1)
        for i, s in enumerate(ranked)
    ]
    return rows + [Row(*s, rank=None) for s in rest]


def by_place(found: Standing, place: int, ranked: int, rules: Rules) -> Standing:
    """The list is drawn each time (红黑榜 "晾晒"): the first `red_top` ranked rows are red
    and the last `black_bottom` black, besides those the index cut-offs put there — but
    never more than a third of the ranked rows each way, so a short list is drawn by the
    cut-offs alone and no row is on both lists."""
    share = ranked // 3
    if found is Standing.red or place <= min(rules.red_top, share):
        return Standing.red
    if found is Standing.black or place > ranked - min(rules.black_bottom, share):
        return Standing.black
    return found


def percent(rate: Rate) -> str:
    value = rate.value
    return "—" if value is None else f"{value * 100:.1f}%"


# --------------------------------------------------------------------------- facts


class Fact(StrEnum):
    """What a case counts for on the list by leader (see `models.RankingFact`)."""

    accept = "accept"
    timed = "timed"
    reply = "reply"
    rating = "rating"


#: The clocks the list reads: a routing decision's, and the handling clocks a reply stops.
ACCEPT_CLOCK: Final = "accept"
TIMED_CLOCKS: Final = ("handle", "extend")
FACT_CLOCKS: Final = (ACCEPT_CLOCK, *TIMED_CLOCKS)
#: A rating's grade: 满意 2, 基本满意 1, 不满意 0.
GRADES: Final[Mapping[str, int]] = {"satisfied": 2, "basically": 1}


@dataclass(frozen=True, slots=True)
class CaseFact:
    fact: Fact
    day: dt.date
    grade: int


def case_facts(
    stopped: Iterable[tuple[str, dt.date, dt.date]],
    replied_on: dt.date | None,
    evaluation: str | None,
    evaluated_on: dt.date | None,
) -> list[CaseFact]:
    """A case's facts from its stopped clocks (name, stopped on, due), its reply day and its
    rating: a clock is graded 1 when it stopped by its due date, the reply once rated."""
    facts = []
    for name, stopped_on, due in stopped:
        if name == ACCEPT_CLOCK or name in TIMED_CLOCKS:
            kind = Fact.accept if name == ACCEPT_CLOCK else Fact.timed
            facts.append(CaseFact(kind, stopped_on, int(stopped_on <= due)))
    if replied_on is not None:
        facts.append(CaseFact(Fact.reply, replied_on, int(evaluation is not None)))
    if evaluated_on is not None and evaluation is not None:
        facts.append(CaseFact(Fact.rating, evaluated_on, GRADES.get(evaluation, 0)))
    return facts


#: The leader's counts (`Counts` fields) as numbers of facts: of a kind, and of a grade
#: when one is given (a rating graded 1 is 基本满意).
FACT_FIELDS: Final[Mapping[str, tuple[Fact, int | None]]] = {
    "decisions": (Fact.accept, None),
    "timely_decisions": (Fact.accept, 1),
    "timed_replies": (Fact.timed, None),
    "on_time_replies": (Fact.timed, 1),
    "replies": (Fact.reply, None),
    "rated_replies": (Fact.reply, 1),
    "rated": (Fact.rating, None),
    "satisfied": (Fact.rating, 2),
    "basically": (Fact.rating, 1),
}


_FIELDS: Final = tuple(Counts.__dataclass_fields__)
_AT: Final = {name: i for i, name in enumerate(_FIELDS)}


class Tallies:
    """Counts per unit or leader, added up in place: a province's list adds up tens of
    thousands of grouped rows, too many to add as `Counts` one by one."""

    def __init__(self) -> None:
        self._rows: dict[int, list[int]] = {}

    def add(self, key: int, counts: Mapping[str, int]) -> None:
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = [0] * len(_FIELDS)
        for name, n in counts.items():
            row[_AT[name]] += int(n or 0)

    def counts(self) -> dict[int, Counts]:
        return {key: Counts(*row) for key, row in self._rows.items()}


class Board(StrEnum):
    """Whom a fact counts for: the case's territorial unit, or each answering owner."""

    unit = "unit"
    leader = "leader"


class Keyed(NamedTuple):
    """A fact as kept (`models.RankingFact`): its board and key, kind, day and grade."""

    board: str
    key: int
    metric: str
    day: dt.date
    grade: int


#: A monthly total's key (`models.RankingTotal`): month, board, key, kind, grade.
TotalKey = tuple[dt.date, str, int, str, int]


def keyed_facts(facts: Iterable[CaseFact], unit: int, persons: Iterable[int]) -> list[Keyed]:
    """A case's facts once for its territorial unit and once per answering owner."""
    keys = [(str(Board.unit), unit), *((str(Board.leader), p) for p in sorted(set(persons)))]
    return [Keyed(b, k, str(f.fact), f.day, f.grade) for b, k in keys for f in facts]


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def total_changes(old: Iterable[Keyed], new: Iterable[Keyed]) -> list[tuple[TotalKey, int]]:
    """What rewriting a case's facts from `old` to `new` adds to each monthly total, those
    that change, in key order (so concurrent writers lock the totals in one order)."""
    change: dict[TotalKey, int] = {}
    for sign, facts in ((-1, old), (1, new)):
        for f in facts:
            key = (month_of(f.day), f.board, f.key, f.metric, f.grade)
            change[key] = change.get(key, 0) + sign
    return sorted((k, n) for k, n in change.items() if n)


class Split(NamedTuple):
    """A period as the whole months inside it (first days, both ends; None if none) and
    the days at its ends outside them, read from the daily facts."""

    months: tuple[dt.date, dt.date] | None
    edges: list[tuple[dt.date, dt.date]]


def split_period(start: dt.date, end: dt.date) -> Split:
    first = start if start.day == 1 else _next_month(start)
    after = _next_month(end) if _next_month(end) - dt.timedelta(days=1) == end else month_of(end)
    if first >= after:
        return Split(None, [(start, end)] if start <= end else [])
    edges = []
    if start < first:
        edges.append((start, first - dt.timedelta(days=1)))
    if after <= end:
        edges.append((after, end))
    last = month_of(after - dt.timedelta(days=1))
    return Split((first, last), edges)


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
