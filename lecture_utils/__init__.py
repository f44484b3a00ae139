"""lecture_utils — the tested implementations behind the lecture book
*Machine-learning surrogates for global fits*.

Modules follow the one-way data flow of the design (DESIGN §3)::

    stats (leaf) ; alps -> engine -> data -> surrogate/tuning -> compiled -> explain/sampling/active

A module may import the stages before it, never one after it.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
