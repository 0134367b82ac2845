"""Rendering of tenant-edited templates in a Jinja2 sandbox, and the checks a version must pass to publish.

Every value a template prints is escaped for the markup it lands in (`markup.py`): HTML bodies with autoescape,
Slack and Teams messages for their markdown, WhatsApp parameters and mail headers flattened to one line, plain
text as is. Undefined values fail loudly (`StrictUndefined`); attributes that start with an underscore and the
interpreter's internals are out of reach. Values a real record may leave empty are linted in `lint.py`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, get_args

from jinja2 import (
    StrictUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
    Undefined,
    UndefinedError,
    meta,
    nodes,
)
from jinja2.sandbox import SandboxedEnvironment, SecurityError
from markupsafe import Markup as MarkupSafe

from rentguy_crm.kit.markup import ESCAPES, Markup, header
from rentguy_crm.templates import limits
from rentguy_crm.templates.limits import BoundedEnvironment, RenderLimit

# Always available to every template without being declared: the tenant's branding and identity.
BRAND_TOKENS = ("primary_color", "secondary_color", "logo_url", "website")
BUILTIN_VARIABLES = (*(f"brand.{t}" for t in BRAND_TOKENS), "tenant.name", "tenant.slug")
# Free names a template may use besides its variables.
ALLOWED_GLOBALS = frozenset({"range", "loop"})
PARTS = ("subject", "text_body", "html_body")


class TemplateProblem(Exception):
    """A template that may not be published or could not be rendered: says what, in which part and line."""

    def __init__(self, message: str, *, part: str, line: int | None = None, name: str | None = None) -> None:
        where = f"{part} line {line}" if line else part
        super().__init__(f"{message} (in {where})")
        self.message = message
        self.part = part
        self.line = line
        self.name = name
        self.data: str | None = None  # the sample or record it failed with, when rendering

    def as_error(self) -> dict[str, Any]:
        error = {"field": self.part, "line": self.line, "name": self.name, "message": str(self)}
        return {**error, "data": self.data} if self.data else error


def _default(value: Any, default_value: Any = "", boolean: bool = False) -> Any:
    # A record's empty field is None or "", never Jinja's undefined: `| default("klant")` covers both, so a
    # template can give every optional field a fallback in one filter.
    if isinstance(value, Undefined) or value is None or (isinstance(value, str) and not value.strip()):
        return default_value
    return default_value if boolean and not value else value


def _finalizer(escape: Callable[[str], str] | None) -> Callable[[Any], Any]:
    def finalize(value: Any) -> Any:
        # An empty field (no venue yet) prints as nothing rather than "None".
        if value is None:
            return ""
        # Counted here too, because what a macro prints is built up before the part's output sees it.
        limits.current().print(len(value) if isinstance(value, str) else 0)
        if escape is None or isinstance(value, MarkupSafe):
            return value  # HTML is escaped by autoescape; `| safe` and `| tojson` are marked safe on purpose
        return escape(str(value))

    return finalize


def _environment(markup: Markup) -> SandboxedEnvironment:
    autoescape = markup == "html"
    # Its only global is a bounded `range`: cycler, joiner, namespace and lipsum are ways to reach objects with
    # Python internals, and templates need none.
    env = BoundedEnvironment(undefined=StrictUndefined, autoescape=autoescape,
                             finalize=_finalizer(None if autoescape else ESCAPES[markup]),
                             keep_trailing_newline=True)
    env.filters["default"] = env.filters["d"] = _default
    return env


# One sandboxed environment per markup: the same rules everywhere, only the escaping of values differs.
ENVIRONMENTS: dict[str, SandboxedEnvironment] = {m: _environment(m) for m in get_args(Markup)}
TEXT_ENV = ENVIRONMENTS["text"]
HTML_ENV = ENVIRONMENTS["html"]


def markup_of(part: str) -> Markup:
    """The markup a template part is written in, unless the channel it goes to says otherwise."""
    if part == "html_body":
        return "html"
    if part == "subject":
        return "header"
    if part.startswith("whatsapp.parameters"):
        return "whatsapp"
    return "text"


def env_for(part: str, markup: Markup | None = None) -> SandboxedEnvironment:
    return ENVIRONMENTS[markup or markup_of(part)]


@dataclass
class TemplateContent:
    subject: str | None
    text_body: str
    html_body: str | None
    variables: list[str]
    meta: dict[str, Any]

    def parts(self) -> Iterator[tuple[str, str]]:
        """Every piece of template source with its part name (WhatsApp parameters included)."""
        for part in PARTS:
            source = getattr(self, part)
            if source:
                yield part, source
        for i, param in enumerate(whatsapp_parameters(self.meta)):
            yield f"whatsapp.parameters[{i}]", param


def whatsapp_parameters(meta: dict[str, Any]) -> list[str]:
    spec = meta.get("whatsapp") or {}
    return [str(p) for p in spec.get("parameters") or []]


def _attribute_paths(node: nodes.Node) -> Iterator[tuple[list[str], int]]:
    """Dotted paths read from the context (`contact.first_name`), with their line."""
    for getter in node.find_all((nodes.Getattr, nodes.Getitem)):
        chain: list[str] = []
        current: nodes.Node = getter
        while isinstance(current, nodes.Getattr | nodes.Getitem):
            if isinstance(current, nodes.Getattr):
                chain.append(current.attr)
            elif isinstance(current.arg, nodes.Const) and isinstance(current.arg.value, str):
                chain.append(current.arg.value)
            else:
                chain = []  # a computed index: the sandbox judges it at render time
                break
            current = current.node
        if chain and isinstance(current, nodes.Name):
            yield [current.name, *reversed(chain)], getter.lineno


def _check_private_access(part: str, tree: nodes.Template) -> None:
    for getter in tree.find_all((nodes.Getattr, nodes.Getitem)):
        attr: Any
        if isinstance(getter, nodes.Getattr):
            attr = getter.attr
        else:
            arg = getattr(getter, "arg", None)
            attr = arg.value if isinstance(arg, nodes.Const) else None
        if isinstance(attr, str) and attr.startswith("_"):
            raise TemplateProblem(f"access to the internal attribute '{attr}' is not allowed", part=part,
                                  line=getter.lineno, name=attr)
    for flt in tree.find_all(nodes.Filter):
        if flt.name == "attr":
            args = [a for a in flt.args if isinstance(a, nodes.Const)]
            if not args or (isinstance(args[0].value, str) and args[0].value.startswith("_")):
                raise TemplateProblem("the 'attr' filter may not reach internal attributes", part=part,
                                      line=flt.lineno, name="attr")


def _declared(variables: list[str]) -> set[str]:
    return set(variables) | set(BUILTIN_VARIABLES)


def _is_declared(path: list[str], declared: set[str]) -> bool:
    # `contact` declares everything below it; `contact.first_name` declares itself and lets `contact` be tested.
    for i in range(1, len(path) + 1):
        if ".".join(path[:i]) in declared:
            return True
    dotted = ".".join(path)
    return any(d.startswith(dotted + ".") for d in declared)


def check_part(part: str, source: str, variables: list[str]) -> None:
    """Raise `TemplateProblem` for a syntax error, a reach for internals or an undeclared variable."""
    env = env_for(part)
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"syntax error: {exc.message}", part=part, line=exc.lineno) from None
    _check_private_access(part, tree)
    if (broken := limits.check_constants(tree)) is not None:
        raise TemplateProblem(f"too much work: {broken[0]}", part=part, line=broken[1])
    declared = _declared(variables)
    roots = {d.split(".")[0] for d in declared}
    free = meta.find_undeclared_variables(tree)
    for name in sorted(free - roots - ALLOWED_GLOBALS):
        line = next((n.lineno for n in tree.find_all(nodes.Name) if n.name == name), None)
        raise TemplateProblem(f"undeclared variable '{name}'", part=part, line=line, name=name)
    for path, line in _attribute_paths(tree):
        if path[0] in free and path[0] not in ALLOWED_GLOBALS and not _is_declared(path, declared):
            dotted = ".".join(path)
            raise TemplateProblem(f"undeclared attribute '{path[-1]}' of '{'.'.join(path[:-1])}' ({dotted})",
                                  part=part, line=line, name=dotted)


def sample_context(variables: list[str], brand: dict[str, Any] | None = None,
                   tenant: dict[str, Any] | None = None) -> dict[str, Any]:
    """Placeholder values for every declared variable: `contact.first_name` → "[contact.first_name]"."""
    context: dict[str, Any] = {}
    for dotted in variables:
        parts = dotted.split(".")
        node = context
        for name in parts[:-1]:
            child = node.get(name)
            if not isinstance(child, dict):
                child = {}
                node[name] = child
            node = child
        node.setdefault(parts[-1], f"[{dotted}]")
    context["brand"] = {**{t: f"[brand.{t}]" for t in BRAND_TOKENS}, **(brand or {})}
    context["tenant"] = {"name": "[tenant.name]", "slug": "[tenant.slug]", **(tenant or {})}
    return context


def record_roots(content: TemplateContent) -> set[str]:
    """The top-level names the template's declared variables start with (`contact`, `lead`, ...)."""
    return {v.split(".")[0] for v in content.variables}


def validate(content: TemplateContent, contexts: list[tuple[str, dict[str, Any]]] | None = None, *,
             chat: Markup | None = None) -> None:
    """Everything publishing demands: static checks per part, then a render in the sandbox against every
    context (typed samples and real records, labelled; placeholders when none are given); the first failure is
    raised, naming its data."""
    for part, source in content.parts():
        check_part(part, source, content.variables)
    for label, context in contexts or [("placeholder data", sample_context(content.variables))]:
        try:
            render(content, context, chat=chat)
        except TemplateProblem as problem:
            problem.args = (f"{problem.args[0]} with {label}",)
            problem.data = label
            raise


def _template_line(part: str) -> int | None:
    """The template line of the exception being handled: Jinja rewrites its traceback to template lines."""
    tb = sys.exc_info()[2]
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == part:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


@lru_cache(maxsize=1024)
def _compiled(markup: Markup, part: str, source: str) -> Template:
    env = ENVIRONMENTS[markup]
    # Compiled under the part's name, so a runtime error's traceback says which part and line; every loop and
    # `~` is routed through the render's budget.
    tree = limits.bound_tree(env.parse(source, name=part, filename=part))
    code = env.compile(tree, name=part, filename=part)
    return env.template_class.from_code(env, code, env.make_globals(None))


def render_part(part: str, source: str, context: dict[str, Any], markup: Markup | None = None) -> str:
    try:
        template = _compiled(markup or markup_of(part), part, source)
        with limits.budget_for(source):
            chunks, length = [], 0
            for chunk in template.generate(context):
                length += len(chunk)  # literal text repeated by loops is printed without `finalize`
                if length > limits.MAX_OUTPUT:
                    raise RenderLimit(f"the output is longer than {limits.MAX_OUTPUT:,} characters")
                chunks.append(chunk)
            return "".join(chunks)
    except (RenderLimit, RecursionError, MemoryError) as exc:
        message = str(exc) if isinstance(exc, RenderLimit) else "the template nests or recurses too deeply"
        raise TemplateProblem(f"too much work: {message}", part=part, line=_template_line(part)) from None
    except SecurityError as exc:
        raise TemplateProblem(f"not allowed: {exc}", part=part, line=_template_line(part)) from None
    except UndefinedError as exc:
        raise TemplateProblem(f"missing value: {exc.message}", part=part, line=_template_line(part)) from None
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"syntax error: {exc.message}", part=part, line=exc.lineno) from None
    except (TemplateError, TypeError, ValueError, ArithmeticError, AttributeError, LookupError) as exc:
        raise TemplateProblem(f"could not render: {exc}", part=part, line=_template_line(part)) from None


def is_template(value: str) -> bool:
    return "{{" in value or "{%" in value


def render_value(name: str, value: Any, context: dict[str, Any], markup: Markup = "text") -> Any:
    """A step field as a template: strings render (a plain string stays as it is), lists and mappings render
    each string inside them; other values pass unchanged."""
    if isinstance(value, str):
        return render_part(name, value, context, markup) if is_template(value) else value
    if isinstance(value, list):
        return [render_value(f"{name}[{i}]", v, context, markup) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: render_value(f"{name}.{k}", v, context, markup) for k, v in value.items()}
    return value


def free_names(value: Any) -> set[str]:
    """The top-level names a field's templates read (`lead`, `steps`, ...); strings inside lists and mappings too."""
    if isinstance(value, str):
        if not is_template(value):
            return set()
        try:
            return set(meta.find_undeclared_variables(TEXT_ENV.parse(value)))
        except TemplateSyntaxError:
            return set()
    if isinstance(value, list):
        return set().union(*(free_names(v) for v in value))
    if isinstance(value, dict):
        return set().union(*(free_names(v) for v in value.values()))
    return set()


def check_syntax(name: str, source: str) -> None:
    """Raise `TemplateProblem` when a step field's template does not parse or breaks a limit whatever its data."""
    try:
        tree = TEXT_ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"syntax error: {exc.message}", part=name, line=exc.lineno) from None
    if (broken := limits.check_constants(tree)) is not None:
        raise TemplateProblem(f"too much work: {broken[0]}", part=name, line=broken[1])


@dataclass
class RenderedMessage:
    subject: str | None
    text: str
    html: str | None
    whatsapp_parameters: list[str]


def render(content: TemplateContent, context: dict[str, Any], *, chat: Markup | None = None) -> RenderedMessage:
    """Render every part; `chat` is the markup of the chat channel the text goes to (Slack or Teams)."""
    # A header is one line whatever the template's own text says; values were flattened as they were printed.
    subject = header(render_part("subject", content.subject, context)).strip() if content.subject else None
    text = render_part("text_body", content.text_body, context, chat) if content.text_body else ""
    html = render_part("html_body", content.html_body, context) if content.html_body else None
    params = [render_part(f"whatsapp.parameters[{i}]", p, context).strip()
              for i, p in enumerate(whatsapp_parameters(content.meta))]
    return RenderedMessage(subject=subject, text=text, html=html, whatsapp_parameters=params)
