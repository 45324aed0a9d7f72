"""A first roster for a `daily` rule, made without the solver, for the solver to start from.

Greedy: each day goes to the available member who wants it, does not mind it and is
furthest behind their fair share (on rest days, behind on rest-day duty). Then local
repair moves single sittings, and swaps a rest-day sitting for a working-day one, while
that lowers the soft penalties. When the result costs nothing, CP-SAT proves it optimal
at once (every penalty is at least zero); otherwise it starts its search from here.

Pure: values in, values out.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from app.scheduling.schemas import Instance
from app.scheduling.sittings import RulePlan, Sitting, band, fair_share

MAX_PASSES = 12


@dataclass(slots=True)
class DailyHint:
    plan: RulePlan
    load_weight: int
    rest_weight: int
    wish_weight: int
    wants: dict[str, set[dt.date]]
    avoids: dict[str, set[dt.date]]
    bands: dict[str, tuple[int, int]] = field(default_factory=dict)
    rest_bands: dict[str, tuple[int, int]] = field(default_factory=dict)
    held: dict[dt.date, list[str]] = field(default_factory=dict)
    dates: dict[str, list[dt.date]] = field(default_factory=lambda: defaultdict(list))
    rest: set[dt.date] = field(default_factory=set)

    @classmethod
    def of(cls, plan: RulePlan, instance: Instance) -> DailyHint:
        w = instance.weights
        hint = cls(
            plan,
            w.load,
            w.rest_load,
            w.desired,
            {o.id: set(o.desired) for o in instance.officials},
            {o.id: set(o.undesired) for o in instance.officials},
        )
        hint.bands = {o: band(v) for o, v in fair_share(plan).items()}
        hint.rest_bands = {o: band(v) for o, v in fair_share(plan, True).items()}
        hint.rest = {s.date for s in plan.sittings if s.rest_day}
        return hint

    # ------------------------------------------------------------------ cost

    def cost(self, o: str, dates: list[dt.date]) -> int:
        n = len(dates)
        r = sum(1 for d in dates if d in self.rest)
        lo, hi = self.bands.get(o, (0, n))
        rlo, rhi = self.rest_bands.get(o, (0, r))
        wish = sum(1 for d in dates if d in self.avoids.get(o, ()))
        wish += sum(1 for d in self.wants.get(o, ()) if d in self.plan.pool and d not in dates)
        return (
            self.load_weight * (max(0, n - hi) + max(0, lo - n))
            + self.rest_weight * (max(0, r - rhi) + max(0, rlo - r))
            + self.wish_weight * wish
        )

    def fits(self, o: str, day: dt.date, dates: list[dt.date]) -> bool:
        gap = self.plan.rule.min_gap_days
        return all(abs((day - d).days) >= gap for d in dates if d != day)

    # ------------------------------------------------------------------ greedy

    def build(self) -> dict[dt.date, list[str]]:
        owed: dict[str, float] = defaultdict(float)
        owed_rest: dict[str, float] = defaultdict(float)
        for s in self.plan.sittings:
            members = self.plan.in_post[s.date]
            for o in members:
                owed[o] += s.per_day / len(members)
                owed_rest[o] += s.per_day / len(members) if s.rest_day else 0.0
            chosen = self._pick(s, owed, owed_rest)
            if chosen is None:
                return {}
            for o in chosen:
                owed[o] -= 1
                owed_rest[o] -= 1 if s.rest_day else 0
                self.dates[o].append(s.date)
            self.held[s.date] = chosen
        self.repair()
        return self.held

    def _pick(
        self, s: Sitting, owed: dict[str, float], owed_rest: dict[str, float]
    ) -> list[str] | None:
        free = [o for o in self.plan.pool[s.date] if self.fits(o, s.date, self.dates[o][-1:])]
        if len(free) < s.per_day:
            return None

        def key(o: str) -> tuple[int, float]:
            wish = -1 if s.date in self.wants[o] else (1 if s.date in self.avoids[o] else 0)
            behind = owed_rest[o] + owed[o] / 100 if s.rest_day else owed[o]
            return wish, -behind

        return sorted(free, key=key)[: s.per_day]

    # ------------------------------------------------------------------ repair

    def repair(self) -> None:
        for _ in range(MAX_PASSES):
            if not (self._moves() or self._swaps()):
                return

    def _delta(self, a: str, b: str, take: dt.date, give: dt.date | None = None) -> int:
        """Cost change when `a` hands `take` to `b` (and `b` hands `give` to `a`)."""
        a_new = [d for d in self.dates[a] if d != take] + ([give] if give else [])
        b_new = [d for d in self.dates[b] if d != give] + [take]
        before = self.cost(a, self.dates[a]) + self.cost(b, self.dates[b])
        return self.cost(a, a_new) + self.cost(b, b_new) - before

    def _hand(self, a: str, b: str, day: dt.date) -> None:
        self.held[day] = [b if o == a else o for o in self.held[day]]
        self.dates[a].remove(day)
        self.dates[b].append(day)
        self.dates[b].sort()

    def _takers(self, day: dt.date, without: str | None = None) -> list[str]:
        return [
            b
            for b in self.plan.pool[day]
            if b not in self.held[day]
            and self.fits(b, day, [d for d in self.dates[b] if d != without])
        ]

    def _moves(self) -> bool:
        """Hand single sittings over: from a member who costs something to anyone, and to a
        member who costs something from anyone, whenever the total cost drops."""
        costly = {o for o in self.bands if self.cost(o, self.dates[o])}
        moved = False
        for day, holders in self.held.items():
            for a in list(holders):
                only = None if a in costly else costly
                if only is not None and only.isdisjoint(self.plan.pool[day]):
                    continue
                takers = [b for b in self._takers(day) if only is None or b in only]
                best = min(takers, key=lambda b: self._delta(a, b, day), default=None)
                if best is not None and self._delta(a, best, day) < 0:
                    self._hand(a, best, day)
                    moved = True
        return moved

    def _swaps(self) -> bool:
        swapped = False
        for day in sorted(self.rest):
            for a in list(self.held.get(day, [])):
                if self.cost(a, self.dates[a]) and self._swap_from(a, day):
                    swapped = True
        return swapped

    def _swap_from(self, a: str, day: dt.date) -> bool:
        for b in self._takers(day):
            for give in self.dates[b]:
                if give in self.rest or a in self.held[give] or a not in self.plan.pool[give]:
                    continue
                a_after = [d for d in self.dates[a] if d != day]
                if self.fits(a, give, a_after) and self._delta(a, b, day, give) < 0:
                    self._hand(a, b, day)
                    self._hand(b, a, give)
                    return True
        return False
