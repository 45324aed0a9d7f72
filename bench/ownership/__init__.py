"""Cases and supervision at province size on PostgreSQL: 90 counties, 1,000,000 cases,
20,000 officials, loaded in bulk with a ledger that verifies.

* `generate`: builds the data set (`org` the province, `lives` the cases, `ledger` the
  county ledgers, `dataset` the manifest and the scratch database);
* `measure`: 我的包案, the overdue board (one county, the province) and the red/black list,
  as service calls and over HTTP;
* `checks`: what must hold of the loaded data (run by `generate`).

See bench/README.md, section "Cases and supervision".
"""
