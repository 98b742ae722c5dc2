"""The completeness tests reuse the campaign's, the agent's and the verifier's helpers."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
for helpers in ("campaign", "agent", "verifier", "completeness"):
    sys.path.insert(0, str(TESTS / helpers))
