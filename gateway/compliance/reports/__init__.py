"""Activity and login reports over the audit trail (issue #12, part 1).

Plain functions returning data and iterators (the CLI ``report`` and the admin API are thin
layers over them); nothing here loads a tenant's whole trail into memory:

* ``scope``: what a report covers (tenant, user, path, protocol, action, period), with
  canonical names, as SQL conditions;
* ``events``: the events in time order, read in keyset-paginated batches;
* ``totals``: sums per user, protocol, action and day (SQL GROUP BY), top paths;
* ``chainstatus``: whether the audit chains holding the period's events verify intact;
* ``activity`` / ``logins``: the two reports, assembled;
* ``textformats`` (table, csv, json) and ``html`` (+ ``templates``, ``svg``): rendering;
* ``progress``: a progress bar on stderr, only on a terminal.
"""
