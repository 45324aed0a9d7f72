"""Reception-roster benchmarks: a generated county year solved with CP-SAT.

`python -m bench.roster.generate` writes the instance, `bench.roster.solve` times solving
it and `bench.roster.replan` times re-planning after an official's absence.
"""
