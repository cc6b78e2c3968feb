"""``python -m gateway`` is the ``lumanox-gateway`` command."""

from gateway.cli.main import main

raise SystemExit(main())
