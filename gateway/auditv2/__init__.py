"""Audit log v2: a keyed chain with salted commitments of personal fields.

* ``chain``: event MACs (HMAC-SHA-256 under the audit key, which the catalog holds only
  wrapped by the master key) over the event with its personal fields replaced by
  commitments ``SHA-256(salt || value)``; sealing of v1 chains (plain SHA-256, before
  migration 0006).
* ``verify``: walks a chain (v1 part, seal, v2 part) and compares it with the checkpoint.
* ``erase``: ``erase_subject`` deletes one user's personal values and salts; the
  commitments stay, so the chain still verifies.
* ``checkpoint``: a file outside the catalog with every chain's head, MACed under the audit
  key, so that truncating a chain (and rewriting its head row) is detected.
"""
