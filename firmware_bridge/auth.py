"""Optional frame authentication: truncated HMAC-SHA256 with a replay counter.

Modelled on MAVLink 2 message signing: each authenticated frame carries a
monotonic 64-bit counter and the first 8 bytes of HMAC-SHA256(key, header ||
payload || counter). The receiver keeps the highest counter accepted per device
and rejects any frame whose counter is not above it, so a recorded frame cannot
be replayed. Keys are 32 bytes, one per device, provisioned out of band.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field, replace

from edgeseal.firmware_bridge.frame import FLAG_AUTH, Frame

KEY_LEN = 32
TAG_LEN = 8


def _tag(frame: Frame, key: bytes) -> bytes:
    return hmac.new(key, frame.signed_part(), hashlib.sha256).digest()[:TAG_LEN]


def sign_frame(frame: Frame, key: bytes, counter: int) -> Frame:
    if len(key) != KEY_LEN:
        raise ValueError(f"link key must be {KEY_LEN} bytes, got {len(key)}")
    unsigned = replace(
        frame, flags=frame.flags | FLAG_AUTH, auth_counter=counter, auth_tag=b"\0" * 8
    )
    return replace(unsigned, auth_tag=_tag(unsigned, key))


@dataclass
class ReplayGuard:
    """Checks tags and counters for frames from devices that have a key."""

    keys: dict[int, bytes]
    _last: dict[int, int] = field(default_factory=dict)

    def requires_auth(self, device_id: int) -> bool:
        return device_id in self.keys

    def check(self, frame: Frame) -> str | None:
        """None when the frame is acceptable, else why it is rejected."""
        key = self.keys.get(frame.device_id)
        if key is None:
            return None
        if not frame.authenticated:
            return "unauthenticated frame from a device that has a link key"
        if not hmac.compare_digest(_tag(frame, key), frame.auth_tag):
            return "bad authentication tag"
        last = self._last.get(frame.device_id, -1)
        if frame.auth_counter <= last:
            return f"replayed or stale counter {frame.auth_counter} (last accepted {last})"
        self._last[frame.device_id] = frame.auth_counter
        return None
