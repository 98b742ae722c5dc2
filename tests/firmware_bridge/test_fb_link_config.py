"""Configuration and API misuse get errors an operator or developer can act on."""

from __future__ import annotations

import pytest

from edgeseal.firmware_bridge.link import DeviceLinks, PortConfig
from edgeseal.firmware_bridge.messages import Reading


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"url": ""}, "must name a port"),
        ({"url": "/dev/ttyUSB0", "baudrate": 0}, "baudrate must be positive"),
        ({"url": "/dev/ttyUSB0", "read_timeout": 0}, "must be positive"),
        (
            {"url": "/dev/ttyUSB0", "reopen_initial": 5, "reopen_max": 1},
            "reopen_initial <= reopen_max",
        ),
    ],
)
def test_port_config_rejects_nonsense(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PortConfig(**kwargs)  # type: ignore[arg-type]


def test_two_ports_with_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="share a name"):
        DeviceLinks([PortConfig("/dev/ttyUSB0"), PortConfig("/dev/ttyUSB1", name="/dev/ttyUSB0")])


def test_ack_for_an_unknown_device_is_a_no_op_and_start_twice_fails() -> None:
    links = DeviceLinks([PortConfig("loop://", exclusive=False)])
    links.ack(1, 2, 3)  # nothing delivered for that device: nothing to send, no error
    with links, pytest.raises(RuntimeError, match="already started"):
        links.start()
    links.stop()  # stopping twice is harmless


def test_reading_rejects_out_of_range_fields_with_the_field_name() -> None:
    with pytest.raises(ValueError, match="exponent=200"):
        Reading(1, 2, 3, 4, 5, 6, 200, 0, 0)
    with pytest.raises(ValueError, match="time_kind=2"):
        Reading(1, 2, 3, 4, 5, 6, 0, 2, 0)
    with pytest.raises(TypeError, match="mantissa must be an int"):
        Reading(1, 2, 3, 4, 5, 1.5, 0, 0, 0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("frame_args", "message"),
    [
        ((2, 1, 2, 3, b"\x00" * 17), "READING payload is 17 bytes, expected 18"),
        ((2, 1, 2, 3, b"\x00" * 9 + b"\x05" + b"\x00" * 8), "time_kind 5"),
        ((5, 1, 2, 3, b"\x00" * 11), "HEARTBEAT payload is 11 bytes"),
        ((4, 1, 2, 3, b"\x00\x00"), "RESEND count is 0"),
        (
            (1, 1, 2, 3, b"\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x20"),
            "key_len 32",
        ),
        ((99, 1, 2, 3, b""), "unknown message type 99"),
    ],
)
def test_valid_frames_with_bad_payloads_are_named(frame_args: tuple, message: str) -> None:  # type: ignore[type-arg]
    from edgeseal.firmware_bridge.frame import Frame
    from edgeseal.firmware_bridge.protocol import MessageError, message_from_frame

    with pytest.raises(MessageError, match=message):
        message_from_frame(Frame(*frame_args))
