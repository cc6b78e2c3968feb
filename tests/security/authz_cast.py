"""A tenant with permission rules inside folders, for the authorisation attack tests.

``alice`` has every right; ``carol`` too, except on ``/dept/hr`` (no right at all);
``dave`` may not write into ``/archive/hr``; ``frank`` may only list and read.
Files are created through the core as alice.
"""

from __future__ import annotations

import json

from gateway import admin
from gateway.core import Core
from gateway.principal import PERMISSIONS

from .conftest import PW

ALL = list(PERMISSIONS)
SALARIES = b"salaries: confidential\n"


def rules(*extra: tuple[str, list[str]]) -> str:
    return json.dumps([{"prefix": "/", "perms": ALL},
                       *({"prefix": p, "perms": perms} for p, perms in extra)])


def authz_cast(core: Core) -> None:
    admin.create_tenant(core, "acme")
    admin.create_user(core, "acme", "alice", password=PW)
    admin.create_user(core, "acme", "carol", password=PW,
                      permissions=rules(("/dept/hr", [])))
    admin.create_user(core, "acme", "dave", password=PW,
                      permissions=rules(("/archive/hr", ["list", "read"])))
    admin.create_user(core, "acme", "frank", password=PW,
                      permissions=json.dumps([{"prefix": "/", "perms": ["list", "read"]}]))
    s = core.session(admin.principal_for(core, "acme", "alice"), "cli", "local")
    s.mkdir("/dept/hr", parents=True)
    s.write_file("/dept/hr/salaries.txt", SALARIES)
    s.mkdir("/dept/pub", parents=True)
    s.write_file("/dept/pub/a.txt", b"public\n")
    s.mkdir("/archive")
