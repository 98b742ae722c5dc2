"""What the firmware bridge hands to the agent: readings and link events.

These records are the contract of ``docs/architecture.md`` ("firmware_bridge ->
agent"). They carry plain ints so the agent never needs to know the wire format
(``docs/serial-protocol.md``); the codec in ``firmware_bridge.protocol`` builds them.
"""

from __future__ import annotations

from dataclasses import dataclass

U8_MAX = 0xFF
U16_MAX = 0xFFFF
U32_MAX = 0xFFFF_FFFF
U64_MAX = 0xFFFF_FFFF_FFFF_FFFF
I32_MIN, I32_MAX = -(2**31), 2**31 - 1
I8_MIN, I8_MAX = -128, 127

TIME_KIND_UPTIME = 0
"""``device_time_ms`` counts milliseconds since the device booted."""
TIME_KIND_UNIX = 1
"""``device_time_ms`` is the device's UNIX clock in milliseconds (set from a TIME message)."""


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name}={value} is outside [{low}, {high}]")


@dataclass(frozen=True, slots=True)
class Reading:
    """One measurement as the device sent it: value = mantissa * 10**exponent, exactly."""

    device_id: int
    boot_id: int
    seq: int
    channel: int
    unit: int
    mantissa: int
    exponent: int
    time_kind: int
    device_time_ms: int

    def __post_init__(self) -> None:
        _check_range("device_id", self.device_id, 0, U32_MAX)
        _check_range("boot_id", self.boot_id, 0, U32_MAX)
        _check_range("seq", self.seq, 0, U32_MAX)
        _check_range("channel", self.channel, 0, U16_MAX)
        _check_range("unit", self.unit, 0, U16_MAX)
        _check_range("mantissa", self.mantissa, I32_MIN, I32_MAX)
        _check_range("exponent", self.exponent, I8_MIN, I8_MAX)
        _check_range("time_kind", self.time_kind, TIME_KIND_UPTIME, TIME_KIND_UNIX)
        _check_range("device_time_ms", self.device_time_ms, 0, U64_MAX)


@dataclass(frozen=True, slots=True)
class ReadingReceived:
    """A reading seen for the first time, delivered in sequence order per (device, boot)."""

    port: str
    reading: Reading


@dataclass(frozen=True, slots=True)
class DeviceHello:
    """A device announced itself (at boot, or when asked); a new ``boot_id`` means a reboot."""

    port: str
    device_id: int
    boot_id: int
    firmware_version: str
    capabilities: int
    public_key: bytes | None
    first_seq: int


@dataclass(frozen=True, slots=True)
class SequenceGap:
    """Readings ``expected .. received-1`` of (device_id, boot_id) are lost for good.

    Reported when the device says it no longer holds them (its ring overflowed) or
    when it rebooted before they arrived. ``received`` is one past the last lost seq.
    """

    port: str
    device_id: int
    boot_id: int
    expected: int
    received: int
    # "device_overflow" (the ring overwrote them), "link_down" (overwritten while the
    # serial link was down) or "rebooted" (the device rebooted before sending them).
    reason: str = "device_overflow"

    @property
    def lost(self) -> int:
        return self.received - self.expected


@dataclass(frozen=True, slots=True)
class PortStatus:
    """A serial port came up or went down; ``detail`` is meant for an operator."""

    port: str
    up: bool
    detail: str


LinkEvent = ReadingReceived | DeviceHello | SequenceGap | PortStatus

__all__ = [
    "TIME_KIND_UNIX",
    "TIME_KIND_UPTIME",
    "DeviceHello",
    "LinkEvent",
    "PortStatus",
    "Reading",
    "ReadingReceived",
    "SequenceGap",
]
