"""Personal data breaches (GDPR Art. 33/34): the incident report built from the audit trail
(``report``), its HTML rendering (``html``) and the register of breaches (``register``).

The report selects, in one tenant's audit events of a time window, those that match the
incident's indicators (client addresses and/or accounts), streaming the events from the
catalog (``collect``) so that a long window never sits in memory.
"""
