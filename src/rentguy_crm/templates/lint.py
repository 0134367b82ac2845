"""The empty-value lint: values a real record may leave empty (a lead with only a last name) that a template
prints without a fallback, so "Hoi ," goes out instead of "Hallo,". Saving and publishing report them as warnings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateSyntaxError, nodes

from rentguy_crm.templates.rendering import TEXT_ENV, TemplateContent


@dataclass(frozen=True)
class EmptyValueWarning:
    """A value a real record may leave empty, printed without a fallback: "Hoi ," instead of "Hoi Anna,"."""

    part: str
    line: int
    name: str

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.part, "line": self.line, "name": self.name,
                "message": f"'{self.name}' can be empty for real records; give it a fallback "
                           f"(`{{{{ {self.name} | default(\"…\") }}}}`) or print it inside "
                           f"`{{% if {self.name} %}}` (in {self.part} line {self.line})"}


def _dotted(node: nodes.Node) -> str | None:
    chain: list[str] = []
    while isinstance(node, nodes.Getattr):
        chain.append(node.attr)
        node = node.node
    return ".".join([node.name, *reversed(chain)]) if isinstance(node, nodes.Name) and chain else None


def _tested(node: nodes.Node) -> frozenset[str]:
    """Every dotted path an `if` or `or` looks at: inside it those paths are known to be filled."""
    found = {_dotted(n) for n in node.find_all(nodes.Getattr)}
    if isinstance(node, nodes.Getattr):
        found.add(_dotted(node))
    return frozenset(f for f in found if f)


def _covered(path: str, paths: frozenset[str]) -> str | None:
    parts = path.split(".")
    return next((".".join(parts[:i]) for i in range(2, len(parts) + 1) if ".".join(parts[:i]) in paths), None)


def empty_value_uses(part: str, source: str, may_be_empty: frozenset[str]) -> list[EmptyValueWarning]:
    """Printed values from `may_be_empty` that neither an `if`, an `or` nor `| default` guards."""
    try:
        tree = TEXT_ENV.parse(source)
    except TemplateSyntaxError:
        return []
    found: list[EmptyValueWarning] = []

    def visit(node: nodes.Node, guarded: frozenset[str], printed: bool) -> None:
        if isinstance(node, nodes.If):
            for child in node.body:
                visit(child, guarded | _tested(node.test), printed)
            for child in (*node.elif_, *node.else_):
                visit(child, guarded, printed)
            return
        if isinstance(node, nodes.CondExpr):
            visit(node.expr1, guarded | _tested(node.test), printed)
            if node.expr2 is not None:
                visit(node.expr2, guarded, printed)
            return
        if isinstance(node, nodes.Or):
            visit(node.left, guarded | _tested(node.left), printed)
            visit(node.right, guarded, printed)
            return
        if isinstance(node, nodes.Filter) and node.name in ("default", "d"):
            return
        if printed and isinstance(node, nodes.Getattr) and (path := _dotted(node)):
            empty = _covered(path, may_be_empty)
            if empty and not _covered(path, guarded):
                found.append(EmptyValueWarning(part, node.lineno, empty))
            return
        for child in node.iter_child_nodes():
            visit(child, guarded, printed or isinstance(node, nodes.Output))

    visit(tree, frozenset(), False)
    return found


def lint(content: TemplateContent, may_be_empty: frozenset[str]) -> list[EmptyValueWarning]:
    return [w for part, source in content.parts() for w in empty_value_uses(part, source, may_be_empty)]
