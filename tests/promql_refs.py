"""Which metrics and labels a PromQL expression refers to: enough of the grammar for our rules and dashboard."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(
    r'(?P<str>"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')'
    r"|(?P<brace>\{[^}]*\})"
    r"|(?P<range>\[[^\]]*\])"
    r"|(?P<num>\d+(?:\.\d+)?(?:e[+-]?\d+)?)"
    r"|(?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)"
    r"|(?P<space>\s+)"
    r"|(?P<other>.)",
    re.S,
)
_MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"')
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
OPERATORS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
                "quantile"}


@dataclass
class References:
    metrics: dict[str, set[str]] = field(default_factory=dict)  # metric -> labels named in its selectors
    grouping: set[str] = field(default_factory=set)  # labels in by/on/without/ignoring/group_*


def grafana_to_promql(expr: str) -> str:
    """Grafana variables replaced by something PromQL accepts (they only ever sit inside strings or ranges)."""
    return re.sub(r"\$\{?__\w+\}?", "5m", expr).replace("$", "")


def references(expr: str) -> References:
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(expr) if m.lastgroup != "space"]
    refs = References()
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else (None, "")
        if kind == "ident" and text in GROUPING and following[1] == "(":
            j = i + 2
            while j < len(tokens) and tokens[j][1] != ")":
                if tokens[j][0] == "ident":
                    refs.grouping.add(tokens[j][1])
                j += 1
            i = j + 1
            continue
        if kind == "ident" and following[1] != "(" and text not in OPERATORS | GROUPING | AGGREGATIONS:
            labels = refs.metrics.setdefault(text, set())
            if following[0] == "brace":
                labels.update(_MATCHER.findall(following[1]))
                i += 1
        i += 1
    return refs


def label_values_query(query: str) -> tuple[References, str | None]:
    """A Grafana `label_values(<selector>, <label>)` variable query: its selector and the label it lists."""
    match = re.fullmatch(r"\s*label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*", query, re.S)
    if not match:
        return references(query), None
    return references(match.group(1)), match.group(2)
