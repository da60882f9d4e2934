""".gitignore matching as git does it: git's ``wildmatch`` and ``dir.c`` rules, on bytes.

A pattern git cannot use (an unclosed ``[``, an unknown ``[:class:]``) matches
nothing, as in git; nothing here raises on a bad line.
"""

from __future__ import annotations

import os
from typing import List, Optional, Sequence

_MATCH, _NOMATCH, _ABORT_ALL, _ABORT_TO_STARSTAR = 0, 1, -1, -2
_SPECIAL = b"*?[\\"
_STAR, _QUESTION, _OPEN, _CLOSE, _BACKSLASH, _SLASH = b"*?[]\\/"
_CLASSES = {  # git's ctype tests: ASCII only
    b"alnum": lambda c: c < 128 and chr(c).isalnum(),
    b"alpha": lambda c: c < 128 and chr(c).isalpha(),
    b"blank": lambda c: c in b" \t",
    b"cntrl": lambda c: c < 32 or c == 127,
    b"digit": lambda c: 48 <= c <= 57,
    b"graph": lambda c: 33 <= c <= 126,
    b"lower": lambda c: 97 <= c <= 122,
    b"print": lambda c: 32 <= c <= 126,
    b"punct": lambda c: 33 <= c <= 126 and not chr(c).isalnum(),
    b"space": lambda c: c in b" \t\n\r\v\f",
    b"upper": lambda c: 65 <= c <= 90,
    b"xdigit": lambda c: c in b"0123456789abcdefABCDEF",
}


def wildmatch(pattern: bytes, text: bytes, pathname: bool = True) -> bool:
    """git's ``wildmatch(pattern, text, WM_PATHNAME if pathname else 0)``."""
    return _dowild(pattern, 0, text, 0, pathname) == _MATCH


def _dowild(p: bytes, pi: int, t: bytes, ti: int, pathname: bool) -> int:  # noqa: C901 - a port of git's
    start = pi
    while pi < len(p):
        p_ch = p[pi]
        t_ch = t[ti] if ti < len(t) else 0
        if ti >= len(t) and p_ch != _STAR:
            return _ABORT_ALL
        if p_ch == _QUESTION:
            if pathname and t_ch == _SLASH:
                return _NOMATCH
        elif p_ch == _STAR:
            return _star(p, pi, t, ti, pathname, start)
        elif p_ch == _OPEN:
            matched, pi = _bracket(p, pi, t_ch)
            if matched is None:
                return _ABORT_ALL
            if not matched or (pathname and t_ch == _SLASH):
                return _NOMATCH
        else:
            if p_ch == _BACKSLASH:
                pi += 1
                p_ch = p[pi] if pi < len(p) else 0
            if t_ch != p_ch:
                return _NOMATCH
        pi += 1
        ti += 1
    return _NOMATCH if ti < len(t) else _MATCH


def _star(p: bytes, pi: int, t: bytes, ti: int, pathname: bool, start: int) -> int:
    pi += 1
    if pi < len(p) and p[pi] == _STAR:
        prev = pi - 2
        while pi < len(p) and p[pi] == _STAR:
            pi += 1
        at_boundary = prev < start or p[prev] == _SLASH
        before_slash = pi == len(p) or p[pi] == _SLASH or p[pi:pi + 2] == b"\\/"
        if not pathname:
            match_slash = True
        elif at_boundary and before_slash:
            if pi < len(p) and p[pi] == _SLASH and _dowild(p, pi + 1, t, ti, pathname) == _MATCH:
                return _MATCH
            match_slash = True
        else:
            match_slash = False
    else:
        match_slash = not pathname
    if pi == len(p):
        return _NOMATCH if not match_slash and _SLASH in t[ti:] else _MATCH
    if not match_slash and p[pi] == _SLASH:
        slash = t.find(b"/", ti)
        return _NOMATCH if slash < 0 else _dowild(p, pi + 1, t, slash + 1, pathname)
    return _star_loop(p, pi, t, ti, pathname, match_slash)


def _star_loop(p: bytes, pi: int, t: bytes, ti: int, pathname: bool, match_slash: bool) -> int:
    while ti < len(t):
        if p[pi] not in _SPECIAL:
            while ti < len(t) and (match_slash or t[ti] != _SLASH) and t[ti] != p[pi]:
                ti += 1
            if ti >= len(t) or t[ti] != p[pi]:
                return _NOMATCH
        matched = _dowild(p, pi, t, ti, pathname)
        if matched != _NOMATCH:
            if not match_slash or matched != _ABORT_TO_STARSTAR:
                return matched
        elif not match_slash and t[ti] == _SLASH:
            return _ABORT_TO_STARSTAR
        ti += 1
    return _ABORT_ALL


def _bracket(p: bytes, pi: int, t_ch: int):
    """``(matched, index of the closing ])``, or ``(None, _)`` for a malformed class."""
    pi += 1
    p_ch = p[pi] if pi < len(p) else 0
    negated = p_ch in b"!^"
    if negated:
        pi += 1
        p_ch = p[pi] if pi < len(p) else 0
    prev_ch, matched = 0, False
    while True:
        if not p_ch:
            return None, pi
        if p_ch == _BACKSLASH:
            pi += 1
            p_ch = p[pi] if pi < len(p) else 0
            if not p_ch:
                return None, pi
            matched |= t_ch == p_ch
        elif p_ch == ord("-") and prev_ch and pi + 1 < len(p) and p[pi + 1] != _CLOSE:
            pi += 1
            p_ch = p[pi]
            if p_ch == _BACKSLASH:
                pi += 1
                p_ch = p[pi] if pi < len(p) else 0
                if not p_ch:
                    return None, pi
            matched |= prev_ch <= t_ch <= p_ch
            p_ch = 0
        elif p_ch == _OPEN and p[pi + 1:pi + 2] == b":":
            close = p.find(b"]", pi + 2)
            if close < 0:
                return None, pi
            name = p[pi + 2:close]
            if not name.endswith(b":"):
                matched |= t_ch == _OPEN  # no ":]": a plain '['
            else:
                test = _CLASSES.get(name[:-1])
                if test is None:
                    return None, pi
                matched |= test(t_ch)
                pi, p_ch = close, 0
        else:
            matched |= t_ch == p_ch
        prev_ch = p_ch
        pi += 1
        p_ch = p[pi] if pi < len(p) else 0
        if p_ch == _CLOSE:
            return matched != negated, pi


class Pattern:
    """One .gitignore line of the directory ``base`` (``/``-separated, relative to the walk root)."""

    def __init__(self, line: bytes, base: str) -> None:
        self.negate = line.startswith(b"!")
        pattern = line[1:] if self.negate else line
        self.dir_only = pattern.endswith(b"/")
        if self.dir_only:
            pattern = pattern[:-1]
        self.basename_only = b"/" not in pattern
        self.prefix = min(_simple_length(pattern), len(pattern))
        self.endswith = pattern.startswith(b"*") and not any(c in _SPECIAL for c in pattern[1:])
        self.pattern = pattern
        self.base = os.fsencode(base)

    def matches(self, rel: bytes, is_dir: bool) -> bool:
        """Whether ``rel`` (relative to the walk root) matches, as git's ``dir.c`` decides."""
        if self.dir_only and not is_dir:
            return False
        if self.basename_only:
            return self._match_basename(rel[rel.rfind(b"/") + 1:])
        return self._match_pathname(rel)

    def _match_basename(self, name: bytes) -> bool:
        if self.prefix == len(self.pattern):
            return name == self.pattern
        if self.endswith:
            return name.endswith(self.pattern[1:])
        return wildmatch(self.pattern, name, pathname=False)

    def _match_pathname(self, rel: bytes) -> bool:
        pattern, prefix = self.pattern, self.prefix
        if pattern.startswith(b"/"):
            pattern, prefix = pattern[1:], prefix - 1
        if self.base:
            if not rel.startswith(self.base + b"/"):
                return False
            rel = rel[len(self.base) + 1:]
        if prefix:
            if rel[:prefix] != pattern[:prefix]:
                return False
            pattern, rel = pattern[prefix:], rel[prefix:]
            if not pattern and not rel:
                return True
        return wildmatch(pattern, rel, pathname=True)


def _simple_length(pattern: bytes) -> int:
    for index, char in enumerate(pattern):
        if char in _SPECIAL:
            return index
    return len(pattern)


def _trim_trailing_spaces(line: bytes) -> bytes:
    last_space: Optional[int] = None
    i = 0
    while i < len(line):
        char = line[i]
        if char == ord(" "):
            last_space = i if last_space is None else last_space
        elif char == _BACKSLASH:
            i += 1
            if i >= len(line):
                return line
            last_space = None
        else:
            last_space = None
        i += 1
    return line if last_space is None else line[:last_space]


def parse(data: bytes, base: str) -> List[Pattern]:
    """The patterns of one .gitignore file's bytes, as git reads them."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    patterns = []
    for line in data.split(b"\n"):
        if not line or line.startswith(b"#"):
            continue
        if line.endswith(b"\r"):
            line = line[:-1]
        patterns.append(Pattern(_trim_trailing_spaces(line), base))
    return patterns


def ignored(patterns: Sequence[Pattern], rel: str, is_dir: bool) -> bool:
    """Whether the last pattern matching ``rel`` ignores it (``!`` re-includes)."""
    name = os.fsencode(rel)
    for pattern in reversed(patterns):
        if pattern.matches(name, is_dir):
            return not pattern.negate
    return False
