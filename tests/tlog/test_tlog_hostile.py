"""Hostile inputs: every parser of outside bytes fails only with its own error type."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from edgeseal.tlog.checkpoint import parse_checkpoint
from edgeseal.tlog.note import NoteError, parse_note
from edgeseal.tlog.tiles import TileId, decode_entry_bundle, parse_tile_path, tile_path

NOTE_ALPHABET = st.sampled_from(
    ["\n", " ", "\u2014", "+", "=", "/", "a", "Z", "0", "9", "\x00", "\t", "\u00e9", "\ud7ff"]
)
_SIG = "\u2014 k x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqd=\n"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_parse_note_on_random_bytes(data: bytes) -> None:
    try:
        note = parse_note(data)
    except NoteError:
        return
    assert data.startswith(note.text.encode())


@settings(max_examples=300, deadline=None)
@given(st.text(NOTE_ALPHABET, max_size=120))
def test_parse_note_on_note_like_text(text: str) -> None:
    for data in (text, text + "\n\n" + _SIG, "a\n\n" + text):
        try:
            parse_note(data.encode("utf-8", "surrogatepass"))
        except NoteError:
            pass
        try:
            parse_checkpoint(data)
        except NoteError:
            pass


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from(list("tile/entrisx0123456789.p")), max_size=40))
def test_parse_tile_path_fails_only_with_value_error(path: str) -> None:
    try:
        got = parse_tile_path(path)
    except ValueError:
        return
    # Whatever parses is canonical: it prints back to the same path.
    if isinstance(got, TileId):
        assert tile_path(got) == path.removeprefix("/")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_decode_entry_bundle_fails_only_with_value_error(data: bytes) -> None:
    try:
        decode_entry_bundle(data)
    except ValueError:
        pass
