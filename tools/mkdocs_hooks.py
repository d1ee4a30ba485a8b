"""MkDocs hook: render the reST bits of the docstrings that Markdown leaves as text.

The docstrings are written for Python's help() and Sphinx-style readers: ``:func:`name```
roles and ``Example::`` literal-block markers. mkdocstrings renders them as Markdown, where
the role prefix and the second colon would show verbatim; this drops both.
"""

from __future__ import annotations

import re

# ":func:<code>x</code>" -> "<code>x</code>" (any Sphinx role: func, mod, class, meth, ...)
_ROLE = re.compile(r":(?:py:)?(?:func|mod|class|meth|attr|data|exc|obj|const):(?=<code>)")
# "Example::</p>" -> "Example:</p>" (the reST literal-block marker before a code block)
_LITERAL_MARKER = re.compile(r"::</p>")


def on_page_content(html: str, **_) -> str:
    return _LITERAL_MARKER.sub(":</p>", _ROLE.sub("", html))
