"""Booking benchmarks against the real server (`jiefang serve --workers 2`) on PostgreSQL.

* `throughput`: bookings/s and latency at 32 and 64 concurrent clients, against a bare
  one-INSERT endpoint of the same server, with the no-double-booking checks of `checks`;
* `listing`: GET /api/v1/sittings on a year of sittings of 400 venues;
* `cost`, `gc_pauses`, `client_cost`: where the time goes (analysis).

The rest is shared: `scratch` (database, keys, server), `seed` (the data), `citizens`
(booking requests), `wire` and `load` (the load generator), `machine` (CPU split),
`waits` (what PostgreSQL's backends wait for). See bench/README.md, section "Booking".
"""
