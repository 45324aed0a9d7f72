"""Render the 信访工作离任交接书 of one official with 500 open cases and sign it three times.

Goal from the issue: render + three signatures <= 5 s on this machine (2 cores).

Each run: `app.handover.document.render_handover` (the application's own path: HTML from the
template, WeasyPrint in a worker thread, PDF/A-3b with `dossier.json` attached), then
`app.handover.signing.sign_pdf` three times in signing order (departing → receiving →
office), each an incremental PAdES signature that first unlocks the signer's key from its
PIN (scrypt, part of the timed step). Signers are issued once, outside the timing, by a
throwaway CA. After the timed part every run is checked, and the bench aborts if a check
fails: three signatures valid and trusted in order, the attachment byte-equal to
`canonical(dossier)`, the footer's hash and checkpoint in the text of the first page.

Times are wall clock (`perf_counter`) and this process's CPU (`process_time`, which also
counts WeasyPrint's worker thread); "other" is the share of the machine's 2 cores busy
with other processes during the run (from /proc/stat), i.e. how disturbed it was.
The first run of a process also pays imports and reading the font's widths; it is shown
as "cold" and left out of the medians.

    .venv/bin/python -m bench.handover.render_sign --runs 5
    .venv/bin/python -m bench.handover.render_sign --runs 5 --layout cells --subsetter fonttools

Variants (for the before/after table in bench/README.md): `--layout cells` lays every list
out with one table cell per value (the layout before, `bench.handover.cells`);
`--subsetter fonttools` subsets fonts with fontTools, as WeasyPrint does when HarfBuzz's
subsetter (Debian `libharfbuzz-subset0`) is missing; `--weasy full_fonts=1` etc. set one of
WeasyPrint's write options.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import TypeVar

import pdfplumber

from app.core.certificates import CertificateAuthority, make_ca_certificate, make_ca_key
from app.handover import document
from app.handover.dossier import Anchor, Dossier, canonical
from app.handover.signing import SignerKey, issue_signer, sign_pdf, validate
from bench.handover.cells import use_cell_tables
from bench.handover.dataset import anchor_of, official_dossier

PIN = "246810"
SIGNERS = [("departing", "王建国"), ("receiving", "李卫东"), ("office", "云江县信访局")]
T = TypeVar("T")


@dataclass
class Step:
    wall: float
    cpu: float


@dataclass
class Run:
    steps: dict[str, Step] = field(default_factory=dict)
    other: float = 0.0  # share of the machine busy with other processes
    pages: int = 0
    size: int = 0

    @property
    def total(self) -> Step:
        return Step(
            sum(s.wall for s in self.steps.values()), sum(s.cpu for s in self.steps.values())
        )


def _busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(f) for f in fields]
    idle = ticks[3] + ticks[4]
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _timed(run: Run, name: str, work: Callable[[], T]) -> T:
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    run.steps[name] = Step(time.perf_counter() - wall, time.process_time() - cpu)
    return result


def _issue(now: dt.datetime) -> tuple[bytes, dict[str, SignerKey]]:
    key_pem = make_ca_key()
    ca_pem = make_ca_certificate(key_pem, "bench", now)
    ca = CertificateAuthority.from_pem(key_pem, ca_pem)
    signers = {
        field_name: issue_signer(ca, name, person_id, PIN, now)
        for person_id, (field_name, name) in enumerate(SIGNERS, start=1)
    }
    return ca_pem, signers


def _check(pdf: bytes, dossier: Dossier, anchor: Anchor, ca_pem: bytes) -> int:
    """Abort unless the signed PDF is what it must be; returns its page count."""
    checks = validate(pdf, ca_pem)
    if [c.field_name for c in checks] != [f for f, _ in SIGNERS] or not all(c.ok for c in checks):
        sys.exit(f"signature check failed: {checks}")
    if document.attached_dossier(pdf) != canonical(dossier):
        sys.exit("the attached dossier differs from canonical(dossier)")
    with pdfplumber.open(BytesIO(pdf)) as parsed:
        text = parsed.pages[0].extract_text()
        pages = len(parsed.pages)
    if anchor.dossier_sha256 not in text or anchor.checkpoint_root not in text:
        sys.exit("the footer lacks the dossier's hash or the checkpoint")
    return pages


def one_run(
    dossier: Dossier, anchor: Anchor, ca_pem: bytes, signers: dict[str, SignerKey]
) -> tuple[Run, bytes]:
    run = Run()
    busy, started = _busy_seconds(), time.perf_counter()
    pdf = _timed(run, "render", lambda: asyncio.run(document.render_handover(dossier, anchor)))
    for field_name, _ in SIGNERS:
        sign = functools.partial(
            sign_pdf, pdf, signers[field_name], PIN, field_name, "信访工作离任交接", ca_pem
        )
        pdf = _timed(run, field_name, sign)
    elapsed = time.perf_counter() - started
    machine = (_busy_seconds() - busy) / ((os.cpu_count() or 1) * elapsed)
    run.other = max(0.0, machine - run.total.cpu / ((os.cpu_count() or 1) * elapsed))
    run.pages, run.size = _check(pdf, dossier, anchor, ca_pem), len(pdf)
    return run, pdf


def _row(label: str, run: Run) -> str:
    cells = " ".join(f"{s.wall:7.3f}/{s.cpu:5.2f}" for s in run.steps.values())
    total = run.total
    return f"{label:>6} {cells} {total.wall:7.3f}/{total.cpu:5.2f} {run.other:6.0%}"


def _median_run(runs: list[Run]) -> Run:
    median = Run(other=statistics.median(r.other for r in runs))
    for name in runs[0].steps:
        median.steps[name] = Step(
            statistics.median(r.steps[name].wall for r in runs),
            statistics.median(r.steps[name].cpu for r in runs),
        )
    return median


def _configure(args: argparse.Namespace) -> None:
    if args.layout == "cells":
        use_cell_tables()
    if args.subsetter == "fonttools":
        import weasyprint.pdf.fonts

        weasyprint.pdf.fonts.harfbuzz_subset = None
    for option in args.weasy:
        import weasyprint

        key, _, value = option.partition("=")
        weasyprint.DEFAULT_OPTIONS[key] = int(value) if value.isdigit() else value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--layout", choices=["lines", "cells"], default="lines")
    parser.add_argument("--subsetter", choices=["harfbuzz", "fonttools"], default="harfbuzz")
    parser.add_argument("--weasy", action="append", default=[], metavar="OPTION=VALUE")
    parser.add_argument("--out", type=Path, help="write the last signed PDF here")
    args = parser.parse_args()
    _configure(args)

    dossier = official_dossier(args.cases)
    anchor = anchor_of(dossier)
    ca_pem, signers = _issue(dt.datetime.now(dt.UTC))
    print(
        f"{args.cases} cases, {len(dossier.assignments)} assignments, "
        f"{len(dossier.sittings)} sittings; layout {args.layout}, "
        f"subsetter {args.subsetter}, options {args.weasy or '-'}"
    )
    print(
        f"{'run':>6} "
        + " ".join(f"{n:>13}" for n in ["render", *[f for f, _ in SIGNERS]])
        + f" {'total':>13} {'other':>6}   (seconds wall/cpu)"
    )
    runs, pdf = [], b""
    for i in range(args.runs + 1):
        run, pdf = one_run(dossier, anchor, ca_pem, signers)
        print(_row("cold" if i == 0 else str(i), run), flush=True)
        if i:
            runs.append(run)
    print(_row("median", _median_run(runs)))
    print(f"PDF: {runs[-1].pages} pages, {runs[-1].size:,} bytes signed")
    if args.out:
        args.out.write_bytes(pdf)


if __name__ == "__main__":
    main()
