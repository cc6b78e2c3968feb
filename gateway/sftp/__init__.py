"""SFTP/SCP front-end (asyncssh): a thin adapter over ``Session`` and the ``Gate``.

Modules: ``workers`` (process model; each worker builds an ``Access``), ``auth`` (SSH
connection, login via the Gate), ``connection`` (per-connection guards, negotiation audit),
``asyncssh_ext`` (partial-success auth extension), ``protocol`` (channels, SFTP fixes),
``proxied`` (PROXY protocol behind a load balancer), ``handler`` (SFTP operations ->
Session), ``listing`` (mode bits, attributes, long names), ``handles`` (read-ahead /
write-behind), ``scp`` (legacy scp), ``algorithms`` (crypto policy), ``errors`` (core
errors -> SFTP statuses). See docs/sftp.md.
"""

AVAILABLE = True
