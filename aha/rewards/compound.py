"""Answers made of parts, rewritten so that their parts can be compared: groups of assignments ("p=5, q=2; p=7,
q=2"), systems of equations (`\\begin{cases}`), and vectors written as a one-row or one-column matrix or as a
bracketed list. Pure string functions on normalised text (`aha.rewards.equivalence.normalize`); the comparisons
themselves are `aha.rewards.equivalence` and `aha.rewards.symbolic`.
"""

from __future__ import annotations

import re

_NAME = re.compile(r"^(?:[A-Za-z]|\\[A-Za-z]+)(?:_\{?[\w\\]+\}?)?$")  # x, a_1, \\alpha
_GROUP_BREAK = re.compile(r"\s*(?:;|\bor\b|\band\b)\s*")
_CASES = re.compile(r"^\\begin\{cases\}(.*)\\end\{cases\}$", re.DOTALL)
_MATRIX = re.compile(r"^\\begin\{([pbvBV]?matrix)\}(.*)\\end\{\1\}$", re.DOTALL)


def split_top_level(text: str, separator: re.Pattern[str]) -> list[str]:
    """Pieces of `text` between matches of `separator` that lie outside brackets and braces."""
    depth, start, pieces = 0, 0, []
    index = 0
    while index < len(text):
        char = text[index]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0:
            match = separator.match(text, index)
            if match and match.end() > index:
                pieces.append(text[start:index])
                start = index = match.end()
                continue
        index += 1
    pieces.append(text[start:])
    return [piece.strip() for piece in pieces]


def assignment_groups(text: str) -> list[dict[str, str]] | None:
    """ "p = 5, q = 2; p = 7, q = 2" -> [{"p": "5", "q": "2"}, {"p": "7", "q": "2"}]: groups separated by ";",
    "and" or "or", each a comma list of `name = value`, all groups naming the same unknowns; None otherwise."""
    groups = []
    for piece in split_top_level(text, _GROUP_BREAK):
        group = {}
        for item in split_top_level(piece, re.compile(r",")):
            name, equals, value = (side.strip() for side in item.partition("="))
            if not equals or "=" in value or not _NAME.match(name) or not value or name in group:
                return None
            group[name] = value
        groups.append(group)
    if not groups or any(set(group) != set(groups[0]) for group in groups):
        return None
    return groups


def tuples_of_assignments(prediction: str, reference: str) -> tuple[str, str] | None:
    """Two answers that both assign the same unknowns, as sets of tuples with the unknowns in one order:
    ("\\{(5, 2), (7, 2)\\}", ...); None unless both are such answers with two or more parts."""
    pred, ref = assignment_groups(prediction), assignment_groups(reference)
    if not pred or not ref or set(pred[0]) != set(ref[0]):
        return None
    if len(pred) == len(ref) == 1 and len(pred[0]) == 1:
        return None  # "x = 3" against "x = 4" is a plain equation

    def canonical(groups: list[dict[str, str]]) -> str:
        names = sorted(groups[0])
        items = [
            "(" + ", ".join(group[name] for name in names) + ")" if len(names) > 1 else group[names[0]]
            for group in groups
        ]
        return items[0] if len(items) == 1 else "\\{" + ", ".join(items) + "\\}"

    return canonical(pred), canonical(ref)


def system_of_equations(text: str) -> list[str] | None:
    """The equations of `\\begin{cases} a + b = 1 \\\\ a - b = 2 \\end{cases}`; None for anything else."""
    cases = _CASES.match(text.strip())
    if not cases:
        return None
    equations = []
    for line in re.split(r"\\\\", cases.group(1)):
        value, _, condition = line.partition("&")
        if condition and value.strip() and not condition.lstrip().startswith(("=", "<", ">", "\\")):
            return None  # "1 & x > 0": a function defined piece by piece, not a system
        line = line.replace("&", " ").strip().rstrip(",.;")
        if line:
            equations.append(line)
    relation = re.compile(r"=|[<>]|\\[lg]eq")
    return equations if equations and all(relation.search(e) for e in equations) else None


def vector_entries(text: str) -> tuple[str, list[str]] | None:
    """("matrix", entries) for a matrix of one row or one column, ("list", entries) for "[a, b]" or "(a, b)" with
    two or more entries; None for anything else."""
    text = text.strip()
    matrix = _MATRIX.match(text)
    if matrix:
        rows = [row for row in re.split(r"\\\\", matrix.group(2)) if row.strip()]
        cells = [[cell.strip() for cell in row.split("&")] for row in rows]
        if len(cells) == 1:
            return "matrix", cells[0]
        if all(len(row) == 1 for row in cells):
            return "matrix", [row[0] for row in cells]
        return None
    if len(text) > 2 and text[0] in "([" and text[-1] in ")]":
        entries = split_top_level(text[1:-1], re.compile(r","))
        if len(entries) >= 2 and all(entries) and split_top_level(text, re.compile(r",")) == [text]:
            return "list", entries
    return None


def vector_against_list(prediction: str, reference: str) -> tuple[str, str] | None:
    """A one-row or one-column matrix against a bracketed list of as many entries, both as tuples; None otherwise."""
    pred, ref = vector_entries(prediction), vector_entries(reference)
    if not pred or not ref or pred[0] == ref[0] or len(pred[1]) != len(ref[1]):
        return None
    return "(" + ", ".join(pred[1]) + ")", "(" + ", ".join(ref[1]) + ")"
