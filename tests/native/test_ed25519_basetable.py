"""The checked-in table of base-point multiples equals what its generator computes."""

from __future__ import annotations

from gen_ed25519_basetable import TARGET, odd_multiples, render

P = 2**255 - 19


def test_checked_in_table_is_the_generated_one() -> None:
    assert TARGET.read_text() == render(), (
        "native/src/ed25519_basetable.c differs from its generator: run "
        "python3 tests/native/gen_ed25519_basetable.py and rebuild"
    )


def test_first_entry_is_the_rfc8032_base_point() -> None:
    ypx, ymx, _ = odd_multiples()[0]
    y = (ypx + ymx) * pow(2, P - 2, P) % P
    x = (ypx - ymx) * pow(2, P - 2, P) % P
    assert y == 4 * pow(5, P - 2, P) % P
    assert x == 15112221349535400772501151409588531511454012693041857206046113283949847762202
