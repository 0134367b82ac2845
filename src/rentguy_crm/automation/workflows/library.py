"""The workflow library `automation/workflows/*.yaml`: loading with line numbers and validation.

Every problem names its file and line (YAML syntax, duplicate keys, unknown fields and step types, bad
durations and conditions, template key format, duplicate workflow keys, unknown trigger events), so
`crm workflows validate` can print them as `file:line: message`.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from rentguy_crm.automation.workflows import expressions
from rentguy_crm.automation.workflows.definitions import WorkflowDefinition
from rentguy_crm.automation.workflows.template_fields import sample_failures
from rentguy_crm.config import PROJECT_ROOT

LIBRARY_DIR = PROJECT_ROOT / "automation" / "workflows"
FIXED_EVENTS = ("lead.created", "lead.status_changed", "deal.stage.changed", "payment.received",
                "event.completed", "manual", "schedule")
STAGE_EVENT_PREFIX = "deal.stage."
STEP_TYPES = ("send_email", "send_whatsapp", "notify", "create_task", "update_record", "http_webhook", "wait",
              "branch", "stop")

RUN_VARIABLES = ("lead", "contact", "deal", "event", "payment", "tenant", "brand", "run", "trigger", "steps")
"""What conditions may read; the engine fills them per run. Anything else is always null: a typo."""

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{self.file}:{self.line}: {prefix}{self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "severity": self.severity, "message": self.message}


@dataclass
class LoadedWorkflow:
    definition: WorkflowDefinition
    file: str
    lines: dict[Path_, int]  # document path -> 1-based line, for later messages (e.g. tenant checks)

    @property
    def checksum(self) -> str:
        return checksum(self.definition)

    def line_of(self, *path: str | int) -> int:
        return self.lines.get(tuple(path), 1)


@dataclass
class Library:
    workflows: list[LoadedWorkflow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def get(self, key: str) -> LoadedWorkflow | None:
        return next((w for w in self.workflows if w.definition.key == key), None)


def stored_form(definition: WorkflowDefinition) -> dict[str, Any]:
    """The JSON kept in `workflows.definition`; `WorkflowDefinition.model_validate` reads it back unchanged."""
    return definition.model_dump(mode="json", by_alias=True)


def checksum(definition: WorkflowDefinition) -> str:
    canonical = json.dumps(stored_form(definition), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- YAML with marks ------------------------------------------------------------------------------------------

class _DocumentError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


MAX_NODES = 20_000  # a workflow has a few hundred; aliases must not blow a file up ("billion laughs")


class _Builder:
    """Turns composed YAML nodes into plain data, remembering the line of every mapping key and item."""

    def __init__(self) -> None:
        self.lines: dict[Path_, int] = {}
        self.problems: list[tuple[int, str]] = []
        self._constructor = yaml.SafeLoader("")
        self._open: set[int] = set()
        self._count = 0

    def build(self, node: yaml.Node, path: Path_ = ()) -> Any:
        line = node.start_mark.line + 1
        self._count += 1
        if self._count > MAX_NODES:
            raise _DocumentError(line, f"the document is too large (more than {MAX_NODES} values after aliases)")
        if id(node) in self._open:
            raise _DocumentError(line, "an alias refers to itself (recursive YAML structure)")
        self.lines.setdefault(path, line)
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            self._open.add(id(node))
            try:
                return self._build_collection(node, path)
            finally:
                self._open.discard(id(node))
        return self._constructor.construct_object(node, deep=True)

    def _build_collection(self, node: yaml.Node, path: Path_) -> Any:
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            seen: dict[Any, int] = {}
            for key_node, value_node in node.value:
                key = self._constructor.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                if not isinstance(key, str | int) or isinstance(key, bool):
                    self.problems.append((line, "mapping keys must be plain names"))
                    continue
                if key in seen:
                    self.problems.append((line, f"duplicate key '{key}' (first on line {seen[key]})"))
                    continue
                seen[key] = line
                self.lines[(*path, key)] = line
                result[key] = self.build(value_node, (*path, key))
                self.lines[(*path, key)] = line  # the key's own line wins over its value's
            return result
        return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]


def _compose(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise _DocumentError(line, f"YAML syntax error: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise _DocumentError(1, f"YAML error: {exc}") from None


# --- validation ------------------------------------------------------------------------------------------

def _display(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"


def _locate(loc: Sequence[str | int], data: Any, lines: dict[Path_, int]) -> tuple[Path_, int]:
    """Walk a pydantic error location through the document; skip union tags that are not in it."""
    path: Path_ = ()
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            path, node = (*path, part), node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path, node = (*path, part), node[part]
    return path, lines.get(path, 1)


def _message(error: Any, loc: Sequence[str | int], path: Path_) -> str:
    kind = error["type"]
    where = _display(path)
    text = str(error["msg"]).removeprefix("Value error, ")
    if kind == "union_tag_invalid":
        tag = error.get("input", {}).get("type") if isinstance(error.get("input"), dict) else None
        close = difflib.get_close_matches(str(tag), STEP_TYPES, n=1)
        hint = f" — did you mean '{close[0]}'?" if close else ""
        return f"{where}: unknown step type '{tag}'{hint} (known: {', '.join(STEP_TYPES)})"
    if kind == "union_tag_not_found":
        return f"{where}: a step needs a 'type' (one of: {', '.join(STEP_TYPES)})"
    if kind == "extra_forbidden":
        name = loc[-1]
        return f"{where}: unknown field '{name}'"
    if kind == "missing":
        return f"{where}: missing required field '{loc[-1]}'"
    return f"{where}: {text}"


def validate_document(data: Any, lines: dict[Path_, int], file: str) -> tuple[WorkflowDefinition | None,
                                                                               list[Problem]]:
    if not isinstance(data, dict):
        return None, [Problem(file, 1, "a workflow file must be a mapping with key, name, triggers and steps")]
    try:
        definition = WorkflowDefinition.model_validate(data)
    except ValidationError as exc:
        found = []
        for error in exc.errors():
            loc = list(error["loc"])
            path, line = _locate(loc, data, lines)
            found.append(Problem(file, line, _message(error, loc, path)))
        return None, _unique(found)
    problems: list[Problem] = []
    for index, trigger in enumerate(definition.triggers):
        event = trigger.event
        if event not in FIXED_EVENTS and not event.startswith(STAGE_EVENT_PREFIX):
            close = difflib.get_close_matches(event, FIXED_EVENTS, n=1)
            hint = f" — did you mean '{close[0]}'?" if close else ""
            problems.append(Problem(file, lines.get(("triggers", index, "event"), 1),
                                    f"triggers[{index}].event: unknown event '{event}'{hint} (known: "
                                    f"{', '.join(FIXED_EVENTS)}, deal.stage.<stage>)"))
    for path, expression in _expressions(definition):
        unknown = sorted(expressions.referenced_names(expression) - set(RUN_VARIABLES))
        if unknown:
            close = difflib.get_close_matches(unknown[0], RUN_VARIABLES, n=1)
            hint = f" — did you mean '{close[0]}'?" if close else ""
            problems.append(Problem(file, lines.get(path, 1),
                                    f"{_display(path)}: '{unknown[0]}' is not a run variable and is always "
                                    f"null{hint} (variables: {', '.join(RUN_VARIABLES)})", "warning"))
    for path, name, problem in _template_field_failures(definition):
        problems.append(Problem(file, lines.get((*path, name), lines.get(path, 1)),
                                f"{_display((*path, name))}: {problem}"))
    stem = Path(file).stem
    if stem != definition.key:
        problems.append(Problem(file, lines.get(("key",), 1),
                                f"key '{definition.key}' differs from the file name '{stem}'", "warning"))
    return (definition if not [p for p in problems if p.severity == "error"] else None), problems


def _template_field_failures(definition: WorkflowDefinition) -> list[tuple[Path_, str, str]]:
    """Step fields written as templates that fail with the typed samples (as a message template would at
    publish), with the step's document path."""
    found: list[tuple[Path_, str, str]] = []

    def walk(steps: list[Any], path: Path_) -> None:
        for index, step in enumerate(steps):
            here = (*path, index)
            found.extend((here, name, problem) for name, problem in sample_failures(step))
            if step.type == "branch":
                walk(step.then, (*here, "then"))
                walk(step.otherwise, (*here, "else"))

    walk(definition.steps, ("steps",))
    return found


def _expressions(definition: WorkflowDefinition) -> list[tuple[Path_, str]]:
    """Every condition and `until` of a definition with its document path."""
    found: list[tuple[Path_, str]] = []
    for index, trigger in enumerate(definition.triggers):
        if trigger.condition:
            found.append((("triggers", index, "condition"), trigger.condition))

    def walk(steps: list[Any], path: Path_) -> None:
        for index, step in enumerate(steps):
            here = (*path, index)
            if step.type == "branch":
                found.append(((*here, "condition"), step.condition))
                walk(step.then, (*here, "then"))
                walk(step.otherwise, (*here, "else"))
            elif step.type == "wait" and step.until:
                found.append(((*here, "until"), step.until))

    walk(definition.steps, ("steps",))
    return found


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[int, str]] = set()
    result = []
    for problem in problems:
        if (problem.line, problem.message) not in seen:
            seen.add((problem.line, problem.message))
            result.append(problem)
    return result


def load_file(path: Path, display: str | None = None) -> tuple[LoadedWorkflow | None, list[Problem]]:
    file = display or _display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(file, 1, f"cannot read the file: {exc}")]
    try:
        node = _compose(text)
    except _DocumentError as exc:
        return None, [Problem(file, exc.line, exc.message)]
    if node is None:
        return None, [Problem(file, 1, "the file is empty")]
    builder = _Builder()
    try:
        data = builder.build(node)
    except _DocumentError as exc:
        return None, [Problem(file, exc.line, exc.message)]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return None, [Problem(file, mark.line + 1 if mark else 1, f"YAML error: {exc}")]
    problems = [Problem(file, line, message) for line, message in builder.problems]
    definition, found = validate_document(data, builder.lines, file)
    problems.extend(found)
    if definition is None or any(p.severity == "error" for p in problems):
        return None, problems
    return LoadedWorkflow(definition, file, builder.lines), problems


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def workflow_files(paths: Iterable[Path] | None = None) -> list[Path]:
    """The files to load: the library folder by default; folders expand to their *.yaml and *.yml."""
    found: list[Path] = []
    for path in (list(paths) if paths else [LIBRARY_DIR]):
        if path.is_dir():
            found.extend(sorted([*path.glob("*.yaml"), *path.glob("*.yml")]))
        else:
            found.append(path)
    return found


def load_library(paths: Iterable[Path] | None = None) -> Library:
    library = Library()
    first_seen: dict[str, LoadedWorkflow] = {}
    for path in workflow_files(paths):
        loaded, problems = load_file(path)
        library.files.append(_display_path(path))
        library.problems.extend(problems)
        if loaded is None:
            continue
        key = loaded.definition.key
        if key in first_seen:
            earlier = first_seen[key]
            library.problems.append(Problem(loaded.file, loaded.line_of("key"),
                                            f"workflow key '{key}' is already defined in "
                                            f"{earlier.file}:{earlier.line_of('key')}"))
            continue
        first_seen[key] = loaded
        library.workflows.append(loaded)
    if not library.files:
        library.problems.append(Problem(_display_path(LIBRARY_DIR), 1, "no workflow files found"))
    return library


def check_against_stages(library: Library, stages: Iterable[str], tenant: str) -> list[Problem]:
    """Warnings for `deal.stage.<stage>` triggers that name a stage none of the tenant's pipelines has."""
    known = set(stages)
    warnings = []
    for loaded in library.workflows:
        for index, trigger in enumerate(loaded.definition.triggers):
            event = trigger.event
            if not event.startswith(STAGE_EVENT_PREFIX) or event == "deal.stage.changed":
                continue
            stage = event.removeprefix(STAGE_EVENT_PREFIX)
            if stage not in known:
                close = difflib.get_close_matches(stage, sorted(known), n=1)
                hint = f" — did you mean '{close[0]}'?" if close else ""
                warnings.append(Problem(loaded.file, loaded.line_of("triggers", index, "event"),
                                        f"trigger '{event}': no pipeline of tenant {tenant} has a stage "
                                        f"'{stage}'{hint}", "warning"))
    return warnings
