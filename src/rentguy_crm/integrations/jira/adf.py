"""A small builder for Atlassian Document Format (https://developer.atlassian.com/cloud/jira/platform/apis/document/
structure/): the JSON Jira Cloud REST v3 takes as an issue description. Headings, paragraphs, bullet lists and
tables of plain text; text is never interpreted as markup."""

from __future__ import annotations

from typing import Any

Node = dict[str, Any]


def text(value: str, *, strong: bool = False) -> Node:
    node: Node = {"type": "text", "text": value}
    if strong:
        node["marks"] = [{"type": "strong"}]
    return node


def paragraph(value: str) -> Node:
    # ADF refuses empty text nodes: an empty paragraph has no content.
    return {"type": "paragraph", "content": [text(value)] if value else []}


def heading(value: str, level: int = 2) -> Node:
    if not 1 <= level <= 6:
        raise ValueError("an ADF heading level is 1..6")
    return {"type": "heading", "attrs": {"level": level}, "content": [text(value)] if value else []}


def bullet_list(items: list[str]) -> Node:
    return {"type": "bulletList",
            "content": [{"type": "listItem", "content": [paragraph(item)]} for item in items]}


def table(header: list[str], rows: list[list[str]]) -> Node:
    def cell(kind: str, value: str) -> Node:
        return {"type": kind, "attrs": {}, "content": [paragraph(value)]}

    if any(len(row) != len(header) for row in rows):
        raise ValueError("every table row needs as many cells as the header")
    return {"type": "table", "attrs": {"isNumberColumnEnabled": False, "layout": "default"},
            "content": [{"type": "tableRow", "content": [cell("tableHeader", h) for h in header]},
                        *({"type": "tableRow", "content": [cell("tableCell", v) for v in row]} for row in rows)]}


def document(*blocks: Node) -> Node:
    """The document root (`version` 1) around the given blocks."""
    return {"type": "doc", "version": 1, "content": list(blocks)}
