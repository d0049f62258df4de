"""Secrets stay with their owner on the running stack: nothing under its state folder is readable or writable by
another local user, and no process of ours carries a password on its command line."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from stack.paths import STATE

SECRETS = STATE / "secrets"


def test_nothing_under_the_stack_state_is_open_to_other_users() -> None:
    assert STATE.exists(), "run `make up` first"
    open_to_others = []
    for folder, folders, files in os.walk(STATE):
        for name in [*folders, *files]:
            path = Path(folder, name)
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode) or stat.S_ISSOCK(mode):
                continue
            if mode & 0o077:
                open_to_others.append(f"{path} {stat.filemode(mode)}")
    assert not open_to_others, "\n".join(open_to_others[:20])
    # The state folder itself: others may pass through (PostgreSQL's user reaches its own folder), never list it.
    assert STATE.stat().st_mode & 0o077 in (0, 0o011)


def test_no_process_has_a_password_on_its_command_line() -> None:
    passwords = {path.name: path.read_text().strip() for path in SECRETS.iterdir()}
    assert passwords, "the stack has no passwords yet: run `make up` first"
    shown = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone while we looked
            continue
        shown += [f"{proc.name}: {argv[:120]} (the password of {who})" for who, secret in passwords.items() if secret in argv]
    assert not shown, "\n".join(shown)
