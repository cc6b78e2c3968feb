"""Identity and policy: who may connect, how, from where, with which second factor.

This package decides; front-ends ask. For now it holds local password hashing and the
principal lookup used by the core; LDAP, TOTP, SSH keys, app passwords, network rules and
the brute-force defender arrive with the identity issue.
"""
