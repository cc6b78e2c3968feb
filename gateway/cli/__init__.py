"""The ``lumanox-gateway`` admin command."""
