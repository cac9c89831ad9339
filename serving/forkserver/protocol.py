"""The wire between the platform and a fork server: one JSON object per datagram.

The channel is an AF_UNIX SOCK_SEQPACKET socket pair: the kernel keeps message boundaries (no
framing code), reports the peer's death as end-of-file, and carries file descriptors alongside a
message (SCM_RIGHTS), which is how a pidfd of each forked replica reaches the platform.

Messages (`op` names the kind):

    platform -> server   {"op": "fork", "id", "argv", "env", "cwd", "log", "requested_at",
                          "model": {"engine", "task", "path"}}
                         {"op": "learn", "model": {"engine", "task", "path"}}
    server -> platform   {"op": "ready", "pid", "preload_s"}           once, after the imports
                         {"op": "failed", "reason"}                    instead of ready; it exits
                         {"op": "forked", "id", "pid"} + [pidfd]       the replica runs
                         {"op": "refused", "id", "reason"}             nothing was forked
                         {"op": "exited", "pid", "code"}               a replica was reaped
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from typing import Any

MAX_MESSAGE_BYTES = 1 << 20
MAX_FDS = 4
Message = dict[str, Any]


class ProtocolError(Exception):
    """The peer sent something that is not a message of this protocol."""


def socket_pair() -> tuple[socket.socket, socket.socket]:
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def send(sock: socket.socket, message: Message, fds: Sequence[int] = ()) -> None:
    data = json.dumps(message, separators=(",", ":")).encode()
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(data)} bytes is over {MAX_MESSAGE_BYTES}")
    # A seqpacket send is all or nothing: it never writes part of a message.
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


def receive(sock: socket.socket) -> tuple[Message | None, list[int]]:
    """The next message and the descriptors that came with it; None at end-of-file.

    Blocks, times out or raises BlockingIOError as the socket is configured to.
    """
    data, fds, flags, _ = socket.recv_fds(sock, MAX_MESSAGE_BYTES, MAX_FDS)
    if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
        _close_all(fds)
        raise ProtocolError("message truncated")
    if not data:
        _close_all(fds)
        return None, []
    try:
        message = json.loads(data)
    except ValueError as error:
        _close_all(fds)
        raise ProtocolError(f"not JSON: {error}") from error
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        _close_all(fds)
        raise ProtocolError("a message is a JSON object with an 'op'")
    return message, fds


def _close_all(fds: Sequence[int]) -> None:
    for fd in fds:
        os.close(fd)
