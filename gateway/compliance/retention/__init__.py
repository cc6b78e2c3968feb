"""Retention rules, the trash and legal holds (issue #12): what is kept, for how long, and
what nobody may delete.

- ``rules``: per tenant and per folder, delete files N days after upload or last change;
  keep audit events' personal fields M days;
- ``run``: the retention run (bounded batches, crash-safe, audited); ``job`` runs it daily
  inside ``serve`` on one node at a time;
- ``trash``: deleted files kept D days, restorable, purged by the run;
- ``holds``: legal holds (``check_not_held`` for other deleters such as subject erasure).
"""
