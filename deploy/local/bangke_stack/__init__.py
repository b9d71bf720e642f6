"""Local stack manager: builds, starts, probes and stops the Bangke servers on 127.0.0.1.

``stack.py`` beside this package is the command line; tests import :func:`ensure_infra`.
"""

from bangke_stack.commands import StackError, ensure_infra

__all__ = ["StackError", "ensure_infra"]
