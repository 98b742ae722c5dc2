"""Intake matches on the LinkEvent union: mypy --strict fails when an event has no case.

The pipeline used to dispatch on ``type(event).__name__``, so a renamed or new link event
fell into "ignoring link event" without a word. Now ``Pipeline.handle_events`` is a
``match`` ending in ``assert_never``. This test proves that the check bites: it copies
``agent/pipeline.py`` (and ``firmware_bridge/messages.py``) into a temporary directory,
changes the copies the way a future edit would, and runs mypy once over all of them.
The unchanged copy is the control: it must type-check, or the other verdicts mean nothing.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import mypy  # noqa: F401 - the test extra has it; without it this test must fail, not skip

import edgeseal
from edgeseal.agent import pipeline
from edgeseal.firmware_bridge import messages

MESSAGES_IMPORT = "from edgeseal.firmware_bridge.messages import"
NEW_EVENT = '''

@dataclass(frozen=True, slots=True)
class FirmwareUpdated:
    """An event added to the link after the agent was written."""

    port: str
    device_id: int
'''


def _source(module: object) -> str:
    path = getattr(module, "__file__", None)
    assert path is not None
    return Path(path).read_text(encoding="utf-8")


def _importing(pipeline_src: str, messages_module: str) -> str:
    """The pipeline, taking its link events from ``messages_module`` instead."""
    assert pipeline_src.count(MESSAGES_IMPORT) == 1
    return pipeline_src.replace(MESSAGES_IMPORT, f"from {messages_module} import")


def _with_new_event(messages_src: str) -> str:
    """messages.py with one more event in the LinkEvent union."""
    changed, n = re.subn(
        r"^(LinkEvent = .*)$", r"\1 | FirmwareUpdated", messages_src, flags=re.MULTILINE
    )
    assert n == 1
    head, sep, tail = changed.partition("\n\nLinkEvent = ")
    assert sep
    return head + NEW_EVENT + sep + tail


def _renamed(messages_src: str, old: str, new: str) -> str:
    changed, n = re.subn(rf"\b{old}\b", new, messages_src)
    assert n >= 2  # the class and its place in the union
    return changed


def _without_case(pipeline_src: str, event: str) -> str:
    """The pipeline with the ``case <event>():`` block of the intake match deleted."""
    lines = pipeline_src.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(f"case {event}("))
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = start + 1
    while end < len(lines) and (
        not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent
    ):
        end += 1
    return "".join(lines[:start] + lines[end:])


def _mypy_errors(files: dict[str, str], workdir: Path) -> dict[str, list[str]]:
    """Run mypy --strict once over ``files``; error lines per file stem."""
    for name, text in files.items():
        (workdir / f"{name}.py").write_text(text, encoding="utf-8")
    # From the directory that holds the edgeseal package, so mypy finds it (an editable
    # install is an import hook mypy cannot follow) together with the project's settings.
    root = Path(next(iter(edgeseal.__path__))).parent
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--python-version",
            "3.10",
            "--cache-dir",
            str(workdir / ".mypy_cache"),
            "--no-error-summary",
            "--hide-error-context",
            "--no-pretty",
            *(str(workdir / f"{name}.py") for name in files),
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr  # 2: mypy itself failed
    errors: dict[str, list[str]] = {name: [] for name in files}
    for line in result.stdout.splitlines():
        stem = Path(line.split(":", 1)[0]).stem
        if stem in errors and ": error:" in line:
            errors[stem].append(line)
    return errors


def test_an_event_without_a_case_fails_type_checking(tmp_path: Path) -> None:
    pipe, msgs = _source(pipeline), _source(messages)
    errors = _mypy_errors(
        {
            # control: the pipeline as it is, against a verbatim copy of the events
            "messages_as_is": msgs,
            "intake_as_is": _importing(pipe, "messages_as_is"),
            # the link grows an event the agent does not handle yet
            "messages_new_event": _with_new_event(msgs),
            "intake_new_event": _importing(pipe, "messages_new_event"),
            # an event is renamed on the link side
            "messages_renamed": _renamed(msgs, "DeviceHello", "DeviceBooted"),
            "intake_renamed": _importing(pipe, "messages_renamed"),
            # a case is dropped from the match
            "intake_case_removed": _without_case(pipe, "DeviceHello"),
        },
        tmp_path,
    )
    assert errors["messages_as_is"] == errors["intake_as_is"] == [], errors
    assert errors["messages_new_event"] == errors["messages_renamed"] == [], errors

    (new_event,) = errors["intake_new_event"]
    assert '"assert_never" has incompatible type "FirmwareUpdated"' in new_event, new_event

    # The old name no longer imports, and the new one is a member without a case.
    old_name, unhandled = errors["intake_renamed"]
    assert 'has no attribute "DeviceHello"' in old_name, old_name
    assert '"assert_never" has incompatible type "DeviceBooted"' in unhandled, unhandled

    (removed,) = errors["intake_case_removed"]
    assert '"assert_never" has incompatible type "DeviceHello"' in removed, removed
