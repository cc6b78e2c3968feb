"""SFTP/SCP front-end (asyncssh): a thin adapter over ``Session`` and the ``Gate``.

Modules: ``workers`` (process model), ``auth`` (SSH connection, login via the Gate),
``asyncssh_ext`` (partial-success auth extension), ``protocol`` (channels, SFTP fixes),
``handler`` (SFTP operations -> Session), ``handles`` (read-ahead / write-behind),
``scp`` (legacy scp), ``algorithms`` (crypto policy). See docs/sftp.md.
"""

AVAILABLE = True
