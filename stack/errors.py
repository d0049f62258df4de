from __future__ import annotations

__all__ = ["StackError"]


class StackError(Exception):
    """Something the stack could not do, said in one sentence a person can act on."""
