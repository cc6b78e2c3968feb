"""Identity and policy: who may connect, how, from where, with which second factor.

This package decides; front-ends ask. ``decision.decide`` is the one decision; the gate
(``gate.py``, with ``attempts``, ``facts``, ``slots`` and ``sshflow``) gathers the facts,
verifies credentials (local passwords, LDAP, SSH keys, TOTP, app passwords), applies
network rules, session limits and the brute-force defender, and audits every login.
docs/policy.md lists every module.
"""
