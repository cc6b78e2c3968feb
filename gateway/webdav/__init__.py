"""WebDAV front-end (wsgidav + cheroot over TLS): a thin adapter over ``Session``.

Modules: ``resources`` (provider and resources over ``Session``), ``auth`` (domain
controller over ``Gate``), ``locks`` (catalog lock storage), ``app`` (the WSGI app),
``server`` (TLS, worker processes, ``python -m gateway.webdav``). See docs/webdav.md.
"""

AVAILABLE = True
