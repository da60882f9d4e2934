"""Issue 16, metamorphic: every formatting of the same legacy code migrates to the same code.

Each legacy fixture is re-laid-out by a few small transforms written here (libcst for
the layout, plain text for line endings; no external formatter). A variant must have
the same ``ast.dump`` as the fixture (checked first: the transform is honest). Then:

* the repository index built with the variant is the one built with the fixture;
* the variant and the fixture migrate without error to outputs with the same
  ``ast.dump`` (CRLF read as LF), the same status, rules and TODO markers.

Both together give the same result end to end (a run indexes the files as they are
laid out, then migrates each with that index).

The transforms:

* ``explode``: black's "magic trailing comma" style. Every ``def`` signature, call and
  class header with two or more parameters/arguments gets one per line, a trailing
  comma and a ``# comment`` after every other one; ``from x import a, b`` lists are
  parenthesised the same way.
* ``hanging``: the same ones wrapped right after the open parenthesis (a comment there),
  hanging indent, three per line, no trailing comma, ``)`` after the last one.
* ``comments``: a comment line above every statement (class bodies included), one
  after every simple statement and block header, between decorators and ``def``, and
  at the end of every class body.
* ``indent2`` / ``indent3`` / ``indent8`` / ``tabs``: blocks re-indented.
* ``crlf``: CRLF line endings.
* combinations of the above.

A (fixture, transform) pair is a case only where the transform changes the bytes.
Known failures whose cause is in a file being rewritten elsewhere are strict xfails:
the index ones found by their cause (see ``INDEX_COMMENTS``), the migration ones listed
in ``KNOWN_MIGRATION`` (once fixed, they fail as XPASS: remove them).
"""

from __future__ import annotations

import ast
import difflib
import io
import tokenize
from functools import lru_cache
from itertools import count
from typing import Callable, Dict, List, Sequence, Tuple, Union

import libcst as cst
import pytest

from codemods.files import decode_source
from codemods.repo_index import build_repo_index
from tests.codemod_fixtures import cases, legacy_file, migrate, output

# Not valid source, so no AST to preserve (tests/test_codemod_fixtures.py covers how
# they are reported): every other legacy fixture is used.
NOT_VALID_CODE = {"untouched/unparsable.py", "untouched/undecodable.py"}
FIXTURES = [case for case in cases() if case not in NOT_VALID_CODE]

# Realistic comment texts, parentheses and commas included (scanners must skip them).
_COMMENTS = ("# (was 64, see the paper)", "# note", "# noqa: E501", "# units: a, b")


def _comment(number: int) -> cst.Comment:
    return cst.Comment(_COMMENTS[number % len(_COMMENTS)])


def _break(indent: str, comment: Union[cst.Comment, None] = None) -> cst.ParenthesizedWhitespace:
    """A line break inside brackets; the next line starts at the block's indentation
    plus ``indent``."""
    first = cst.TrailingWhitespace(
        whitespace=cst.SimpleWhitespace("  " if comment else ""), comment=comment, newline=cst.Newline()
    )
    return cst.ParenthesizedWhitespace(first_line=first, indent=True, last_line=cst.SimpleWhitespace(indent))


_NONE = cst.SimpleWhitespace("")
_SPACE = cst.SimpleWhitespace(" ")


# --------------------------------------------------------------------------------------
# Items of a bracketed list (parameters, arguments, imported names) and their commas
# --------------------------------------------------------------------------------------
def _param_items(params: cst.Parameters) -> List[cst.CSTNode]:
    items: List[cst.CSTNode] = [*params.posonly_params]
    if isinstance(params.posonly_ind, cst.ParamSlash):
        items.append(params.posonly_ind)
    items += params.params
    if isinstance(params.star_arg, (cst.Param, cst.ParamStar)):
        items.append(params.star_arg)
    items += params.kwonly_params
    if params.star_kwarg is not None:
        items.append(params.star_kwarg)
    return items


def _with_param_items(params: cst.Parameters, items: Sequence[cst.CSTNode]) -> cst.Parameters:
    rest = iter(items)
    changes: Dict[str, object] = {"posonly_params": [next(rest) for _ in params.posonly_params]}
    if isinstance(params.posonly_ind, cst.ParamSlash):
        changes["posonly_ind"] = next(rest)
    changes["params"] = [next(rest) for _ in params.params]
    if isinstance(params.star_arg, (cst.Param, cst.ParamStar)):
        changes["star_arg"] = next(rest)
    changes["kwonly_params"] = [next(rest) for _ in params.kwonly_params]
    if params.star_kwarg is not None:
        changes["star_kwarg"] = next(rest)
    return params.with_changes(**changes)


def _with_comma(item: cst.CSTNode, comma: Union[cst.Comma, cst.MaybeSentinel]) -> cst.CSTNode:
    """``item`` followed by ``comma`` (``MaybeSentinel.DEFAULT``: none), and no
    whitespace between the item and its comma."""
    if isinstance(item, cst.ParamStar):  # a bare ``*`` is never last: it keeps a comma
        return item.with_changes(comma=comma if isinstance(comma, cst.Comma) else cst.Comma())
    changes: Dict[str, object] = {"comma": comma}
    if isinstance(item, cst.Param):
        changes["whitespace_after_param"] = _NONE
    elif isinstance(item, cst.ParamSlash):
        changes["whitespace_after"] = _NONE
    elif isinstance(item, cst.Arg):
        changes["whitespace_after_arg"] = _NONE
    return item.with_changes(**changes)


class _Relayout(cst.CSTTransformer):
    """Lays out the parameters of every ``def`` and the arguments of every call and
    class header, when there are two or more, with ``layout(items, depth)``: the
    whitespace after the open parenthesis and each item's comma (``depth``: how many
    parentheses are open there, for the continuation indent). Calls inside f-strings
    stay as they are (a line break there is a syntax error before 3.12)."""

    def __init__(self, layout: Callable[[int, int], Tuple[cst.BaseParenthesizableWhitespace, list]]) -> None:
        super().__init__()
        self.layout = layout  # (number of items, nesting depth) -> (after "(", commas)
        self.depth = 0  # calls open around the node (in its statement)
        self.outer: List[int] = []  # the depths around the enclosing defs and classes
        self.fstrings = 0

    def visit_FormattedString(self, node: cst.FormattedString) -> None:
        self.fstrings += 1

    def leave_FormattedString(self, original_node, updated_node):
        self.fstrings -= 1
        return updated_node

    def _items(self, items: Sequence[cst.CSTNode], depth: int):
        """(whitespace after the open bracket, items with their new commas), or None."""
        if len(items) < 2 or self.fstrings:
            return None
        opening, commas = self.layout(len(items), depth)
        return opening, [_with_comma(item, comma) for item, comma in zip(items, commas)]

    def _enter(self) -> None:
        self.outer.append(self.depth)
        self.depth = 0

    def _exit(self) -> None:
        self.depth = self.outer.pop()

    def visit_FunctionDef(self, node) -> None:
        self._enter()

    def leave_FunctionDef(self, original_node, updated_node):
        self._exit()
        laid = self._items(_param_items(updated_node.params), 1)
        if laid is None:
            return updated_node
        opening, items = laid
        return updated_node.with_changes(
            whitespace_before_params=opening, params=_with_param_items(updated_node.params, items)
        )

    def visit_Call(self, node) -> None:
        self.depth += 1

    def leave_Call(self, original_node, updated_node):
        laid = self._items(updated_node.args, self.depth)
        self.depth -= 1
        if laid is None:
            return updated_node
        opening, args = laid
        return updated_node.with_changes(whitespace_before_args=opening, args=args)

    def visit_ClassDef(self, node) -> None:
        self._enter()

    def leave_ClassDef(self, original_node, updated_node):
        self._exit()
        arguments = [*updated_node.bases, *updated_node.keywords]
        laid = self._items(arguments, 1)
        if laid is None:
            return updated_node
        opening, args = laid
        bases = len(updated_node.bases)
        return updated_node.with_changes(
            lpar=cst.LeftParen(whitespace_after=opening),
            rpar=cst.RightParen(whitespace_before=_NONE),
            bases=args[:bases],
            keywords=args[bases:],
        )


class _ExplodeImports(cst.CSTTransformer):
    """``from a import b, c`` -> ``from a import (``, one name a line with a trailing
    comma and a comment after every other one, ``)``."""

    def leave_ImportFrom(self, original_node, updated_node):
        if isinstance(updated_node.names, cst.ImportStar) or len(updated_node.names) < 2:
            return updated_node
        _, commas = _exploded(len(updated_node.names), 1)
        names = [name.with_changes(comma=comma) for name, comma in zip(updated_node.names, commas)]
        return updated_node.with_changes(
            names=names, lpar=cst.LeftParen(whitespace_after=_break("    ")), rpar=cst.RightParen()
        )


def _exploded(items: int, depth: int):
    """One item a line, a trailing comma, a comment after every other item."""
    inner, outer = "    " * depth, "    " * (depth - 1)
    commas = [
        cst.Comma(whitespace_after=_break(outer if n == items - 1 else inner, _comment(n // 2) if n % 2 == 0 else None))
        for n in range(items)
    ]
    return _break(inner), commas


def _hanging(items: int, depth: int):
    """Wrapped after ``(`` (with a comment there), a hanging indent of eight spaces,
    three items a line, no trailing comma."""
    indent = "        " * depth
    commas: list = [
        cst.Comma(whitespace_after=_break(indent) if n % 3 == 2 else _SPACE) for n in range(items - 1)
    ]
    return _break(indent, cst.Comment("# wrapped (hanging indent)")), [*commas, cst.MaybeSentinel.DEFAULT]


# --------------------------------------------------------------------------------------
# Comments
# --------------------------------------------------------------------------------------
def _comment_line(text: str) -> cst.EmptyLine:
    return cst.EmptyLine(indent=True, comment=cst.Comment(text))


def _trailing(whitespace: cst.TrailingWhitespace, number: int) -> cst.TrailingWhitespace:
    if whitespace.comment is not None:
        return whitespace
    return whitespace.with_changes(whitespace=cst.SimpleWhitespace("  "), comment=_comment(number))


class _Comments(cst.CSTTransformer):
    """Comment lines above statements, between decorators and ``def`` and at the end of
    class bodies; end-of-line comments where a line has none."""

    def __init__(self) -> None:
        super().__init__()
        self.numbers = count()

    def _above(self, node):
        line = _comment_line(f"# comment {next(self.numbers)} (above a statement)")
        return node.with_changes(leading_lines=[*node.leading_lines, line])

    def _at_line_end(self, node):
        return node.with_changes(trailing_whitespace=_trailing(node.trailing_whitespace, next(self.numbers)))

    def leave_SimpleStatementLine(self, original_node, updated_node):
        return self._above(self._at_line_end(updated_node))

    def leave_IndentedBlock(self, original_node, updated_node):
        return updated_node.with_changes(header=_trailing(updated_node.header, next(self.numbers)))

    def leave_SimpleStatementSuite(self, original_node, updated_node):
        return self._at_line_end(updated_node)

    def leave_FunctionDef(self, original_node, updated_node):
        if updated_node.decorators:
            after = [*updated_node.lines_after_decorators, _comment_line("# between the decorators and the def")]
            updated_node = updated_node.with_changes(lines_after_decorators=after)
        return self._above(updated_node)

    def leave_ClassDef(self, original_node, updated_node):
        body = updated_node.body
        if isinstance(body, cst.IndentedBlock):
            body = body.with_changes(footer=[*body.footer, _comment_line("# end of the class body")])
        return self._above(updated_node.with_changes(body=body))

    def _compound(self, original_node, updated_node):
        return self._above(updated_node)

    leave_If = leave_For = leave_While = leave_With = leave_Try = _compound


# --------------------------------------------------------------------------------------
# Indentation and line endings
# --------------------------------------------------------------------------------------
class _Reindent(cst.CSTTransformer):
    """Every block at the module's default indentation."""

    def leave_IndentedBlock(self, original_node, updated_node):
        return updated_node.with_changes(indent=None)


Step = Callable[[cst.Module], cst.Module]


def _visit(*transformers: Callable[[], cst.CSTTransformer]) -> Step:
    def apply(module: cst.Module) -> cst.Module:
        for make in transformers:
            module = module.visit(make())
        return module

    return apply


def _reindent(unit: str) -> Step:
    return lambda module: module.visit(_Reindent()).with_changes(default_indent=unit)


CRLF = "crlf"  # a last step on the text: libcst keeps the line breaks it parsed


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


_explode = _visit(lambda: _Relayout(_exploded), _ExplodeImports)
_hang = _visit(lambda: _Relayout(_hanging))
_comments = _visit(_Comments)

TRANSFORMS: Dict[str, Tuple[Union[Step, str], ...]] = {
    "explode": (_explode,),
    "hanging": (_hang,),
    "comments": (_comments,),
    "indent2": (_reindent("  "),),
    "indent3": (_reindent("   "),),
    "indent8": (_reindent(" " * 8),),
    "tabs": (_reindent("\t"),),
    "crlf": (CRLF,),
    "explode+comments": (_explode, _comments),
    "hanging+comments+indent3": (_hang, _comments, _reindent("   ")),
    "explode+tabs+crlf": (_explode, _reindent("\t"), CRLF),
    "comments+indent2+crlf": (_comments, _reindent("  "), CRLF),
}


@lru_cache(maxsize=None)
def _parsed(data: bytes):
    source = decode_source(data)
    return source, cst.parse_module(source.text)


@lru_cache(maxsize=None)
def variant(data: bytes, transform: str) -> bytes:
    """``data`` (a fixture's bytes) laid out by ``transform``, in the same encoding."""
    source, module = _parsed(data)
    steps = TRANSFORMS[transform]
    for step in steps:
        if step is not CRLF:
            module = step(module)
    text = module.code
    return source.encode(_crlf(text) if CRLF in steps else text)


def _tree(data: bytes) -> str:
    """The AST of source bytes (encoding and BOM as Python reads them, CRLF as LF)."""
    return ast.dump(ast.parse(data.replace(b"\r\n", b"\n")))


# --------------------------------------------------------------------------------------
# The tests
#
# A run migrates a file with the repository index built from all files as they are
# laid out. The index is checked on its own (the same for every layout), and the
# migration with the original layout's index: together, the same end-to-end result.
# --------------------------------------------------------------------------------------
_ORIGINALS = {case: legacy_file(case).read_bytes() for case in cases()}


def _repo(case: str, data: bytes):
    """The fixtures indexed as one repository, ``case`` laid out as ``data``."""
    return build_repo_index(data if name == case else _ORIGINALS[name] for name in sorted(_ORIGINALS))


REPO = _repo("", b"")  # every fixture as it is


@lru_cache(maxsize=None)
def _migrated_original(case: str):
    return migrate(_ORIGINALS[case], case, REPO)


# Failures whose cause lies in files this test's author may not change (the models and
# configs rules, codemods/rule.py, codemods/repo_index.py, rewritten elsewhere).
#
# The index: ``codemods/repo_index.py`` reads class headers (and imports) with regexes
# over bytes that do not skip comments: ``class M(`` ... ``)`` is read up to the first
# ``)``, so one inside a comment (``class M(  # wrapped (hanging indent)``, then the
# bases; or ``nn.Module,  # (was 64, ...)`` before ``TorchModelV2``) ends the base list
# before the legacy base: M, and its subclasses, drop out of the index. Those cases are
# found, not listed (fixtures are being added while the index is rewritten): a layout
# whose index differs, and is the original's again once its comments are blanked out.
# Any other difference fails.
INDEX_COMMENTS = (
    "codemods/repo_index.py: a comment inside a class header hides the class from the index "
    "(a `)` in it ends the regex's base list: `class M(  # wrapped (see x)\\n    TorchModelV2, "
    "nn.Module)` reads no base); with the comments blanked out, the index is the original's"
)
# The migration with the original's index: (fixture, transform) -> cause.
KNOWN_MIGRATION: Dict[Tuple[str, str], str] = {}


def _without_comments(data: bytes) -> bytes:
    """``data`` with every comment but a coding cookie blanked out (same code, same lines)."""
    source = decode_source(data)
    lines = list(io.StringIO(source.text))
    for token in tokenize.generate_tokens(io.StringIO(source.text).readline):
        (row, start), (_, end) = token.start, token.end
        if token.type == tokenize.COMMENT and not (row <= 2 and "coding" in token.string):
            lines[row - 1] = lines[row - 1][:start] + " " * (end - start) + lines[row - 1][end:]
    return source.encode("".join(lines))


def _index_known(case: str, transform: str) -> Union[str, None]:
    data = variant(_ORIGINALS[case], transform)
    if _repo(case, data) != REPO and _repo(case, _without_comments(data)) == REPO:
        return INDEX_COMMENTS
    return None


def _migration_known(case: str, transform: str) -> Union[str, None]:
    return KNOWN_MIGRATION.get((case, transform))


def _params(known: Callable[[str, str], Union[str, None]]):
    """(fixture, transform) for every transform that changes the fixture's bytes (an
    empty file, or tabs on the tab-indented fixture, have nothing to re-lay out);
    ``known(fixture, transform)``: the cause of a known failure, or None."""
    for case in FIXTURES:
        for transform in TRANSFORMS:
            if variant(_ORIGINALS[case], transform) == _ORIGINALS[case]:
                continue
            cause = known(case, transform)
            marks = [pytest.mark.xfail(strict=True, reason=cause)] if cause else []
            yield pytest.param(case, transform, marks=marks, id=f"{case}-{transform}")


def _diff(want: bytes, got: bytes) -> str:
    """The two outputs as ``ast.unparse`` writes them (layout gone), diffed."""
    def lines(data: bytes) -> List[str]:
        return ast.unparse(ast.parse(data.replace(b"\r\n", b"\n"))).splitlines()

    diff = difflib.unified_diff(lines(want), lines(got), "original's migration", "variant's migration", lineterm="")
    return "\n".join(diff)


def _summary(result) -> Tuple[str, List[str], List[Tuple[str, str]]]:
    return result.status, sorted(result.rules), sorted((t.message, t.anchor) for t in result.todos)


@pytest.mark.parametrize("case,transform", list(_params(_index_known)))
def test_every_layout_indexes_the_same_legacy_classes(case, transform):
    data = variant(_ORIGINALS[case], transform)
    assert _tree(data) == _tree(_ORIGINALS[case]), "the transform changed the code, not only its layout"
    assert _repo(case, data) == REPO


@pytest.mark.parametrize("case,transform", list(_params(_migration_known)))
def test_every_layout_migrates_to_the_same_code(case, transform):
    original = _ORIGINALS[case]
    data = variant(original, transform)
    assert _tree(data) == _tree(original), "the transform changed the code, not only its layout"

    expected = _migrated_original(case)
    assert expected.status != "error", expected.error
    result = migrate(data, case, REPO)
    assert result.status != "error", result.error
    got, want = output(result, data), output(expected, original)
    if _tree(got) != _tree(want):
        pytest.fail("the migrations differ:\n" + _diff(want, got), pytrace=False)
    assert _summary(result) == _summary(expected), "different status, rules or TODO markers"
