"""How files look to SFTP clients: mode bits, attributes, ``ls -l`` long names, and
directory entries encoded once (``WireName``): what stat and listings send.

Whether a file shows as writable is the core's answer (``Session.may``), passed in as the
mode; nothing here decides a permission.
"""

from __future__ import annotations

import stat as statmod
import struct
import time

import asyncssh
from asyncssh import SFTPAttrs
from asyncssh.packet import String

FILE_MODE = statmod.S_IFREG | 0o644
READONLY_FILE_MODE = statmod.S_IFREG | 0o444
DIR_MODE = statmod.S_IFDIR | 0o755

_V3_ATTRS = struct.Struct(">IQIIIII")  # flags, size, uid, gid, permissions, atime, mtime
_V3_FLAGS = (asyncssh.sftp.FILEXFER_ATTR_SIZE | asyncssh.sftp.FILEXFER_ATTR_UIDGID
             | asyncssh.sftp.FILEXFER_ATTR_PERMISSIONS | asyncssh.sftp.FILEXFER_ATTR_ACMODTIME)


class WireName:
    """A directory entry encoded once for SFTP v3 (the only version served): building
    asyncssh ``SFTPName``/``SFTPAttrs`` records and their encoding dominated large listings.
    Also read by asyncssh's SCP source (``filename``, ``attrs``) like an ``SFTPName``: the
    ``SFTPAttrs`` is then built on demand. ``tests/sftp/test_quirks.py`` checks the bytes
    against asyncssh's own encoding."""

    __slots__ = ("_wire", "filename", "longname", "mode", "mtime", "size")

    def __init__(self, filename: bytes, longname: bytes, mode: int, size: int,
                 mtime: int) -> None:
        self.filename, self.longname = filename, longname
        self.mode, self.size, self.mtime = mode, size, mtime
        self._wire = (String(filename) + String(longname)
                      + _V3_ATTRS.pack(_V3_FLAGS, size, 0, 0, mode, mtime, mtime))

    @property
    def attrs(self) -> SFTPAttrs:
        return attrs_of(self.mode, self.size, self.mtime)

    def encode(self, sftp_version: int) -> bytes:
        if sftp_version != 3:
            raise ValueError("only SFTP v3 is served")
        return self._wire

    def __str__(self) -> str:
        return self.longname.decode("utf-8", "replace")


def attrs_of(mode: int, size: int, mtime: int) -> SFTPAttrs:
    """The attributes every stat and listing reports (owner and group are shown by name)."""
    ftype = (asyncssh.FILEXFER_TYPE_DIRECTORY if statmod.S_ISDIR(mode)
             else asyncssh.FILEXFER_TYPE_REGULAR)
    return SFTPAttrs(type=ftype, size=size, uid=0, gid=0, permissions=mode, atime=mtime,
                     mtime=mtime, nlink=1)


def format_date(mtime: int) -> str:
    """``Nov 28 17:20`` within the last half year, else ``Nov 28  2025``."""
    t = time.localtime(mtime)
    recent = time.time() - 365 * 24 * 3600 / 2 < mtime <= time.time()
    return time.strftime("%b %e %H:%M" if recent else "%b %e  %Y", t)


class LongNames:
    """``ls -l`` style prefixes of one session's entries (as asyncssh formats them), with
    caches: listings of thousands of entries spend most of their time here otherwise."""

    _modes: dict[int, str] = {}

    def __init__(self, user: str, group: str) -> None:
        self._owner = f"{user:8s} {group:8s}"
        self._dates: dict[int, str] = {}

    def prefix(self, mode_bits: int, size: int, mtime: int) -> bytes:
        mode = self._modes.get(mode_bits)
        if mode is None:
            mode = self._modes.setdefault(mode_bits, statmod.filemode(mode_bits))
        date = self._dates.get(mtime // 60)
        if date is None:
            date = format_date(mtime)
            if len(self._dates) > 4096:
                self._dates.clear()
            self._dates[mtime // 60] = date
        return f"{mode:10s} {1:>4d} {self._owner} {size:>8d} {date:12s} ".encode()
