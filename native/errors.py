"""Exceptions of the native core's Python API.

A failed verification is a result (False), not an exception. Exceptions mean the
caller passed something malformed (ValueError/TypeError subclasses, so ordinary
``except ValueError`` works) or the C core reported an internal fault.
"""

from __future__ import annotations


class NativeError(Exception):
    """Base class of every error raised by the native core."""


class NativeValueError(NativeError, ValueError):
    """An argument has the right type but an unusable value (length, range)."""


class NativeTypeError(NativeError, TypeError):
    """An argument is not bytes-like, or not a sequence of bytes-like objects."""


class NativeInternalError(NativeError, RuntimeError):
    """The C core returned an unexpected status; this is a bug, please report it."""
