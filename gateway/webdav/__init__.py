"""WebDAV front-end (wsgidav + cheroot over TLS): a thin adapter over ``Session``.

Modules: ``resources`` (provider and resources over ``Session``), ``auth`` (domain
controller over the ``Access``'s Gate), ``locks`` (wsgidav's lock manager over the
``Session`` lock calls), ``app`` (the WSGI app over an ``Access``), ``server`` (TLS, worker
processes, ``python -m gateway.webdav``), ``listener`` / ``proxied`` (the front door; PROXY
protocol behind a load balancer). See docs/webdav.md.
"""

AVAILABLE = True
