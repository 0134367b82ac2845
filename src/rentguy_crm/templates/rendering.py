"""Rendering of tenant-edited templates in a Jinja2 sandbox, and the checks a version must pass to publish.

Text parts render without escaping, HTML bodies with autoescape. Undefined values fail loudly
(`StrictUndefined`); attributes that start with an underscore and the interpreter's internals are out of reach.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment, SecurityError

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

    def as_error(self) -> dict[str, Any]:
        return {"field": self.part, "line": self.line, "name": self.name, "message": str(self)}


def _finalize(value: Any) -> Any:
    # An empty field (no venue yet) prints as nothing rather than "None".
    return "" if value is None else value


def _environment(autoescape: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=autoescape, finalize=_finalize,
                               keep_trailing_newline=True)
    # cycler, joiner, namespace and lipsum are ways to reach objects with Python internals; templates need none.
    env.globals = {"range": range}
    return env


TEXT_ENV = _environment(autoescape=False)
HTML_ENV = _environment(autoescape=True)


def env_for(part: str) -> SandboxedEnvironment:
    return HTML_ENV if part == "html_body" else TEXT_ENV


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


def validate(content: TemplateContent) -> None:
    """Everything publishing demands: static checks per part, then a trial render on sample data in the sandbox."""
    for part, source in content.parts():
        check_part(part, source, content.variables)
    context = sample_context(content.variables)
    for part, source in content.parts():
        try:
            render_part(part, source, context)
        except TemplateProblem as problem:
            if "not allowed" in problem.message:
                raise
            # Sample values are strings; a filter that wants a number may object. That is not a reason to refuse.


def _template_line(part: str) -> int | None:
    """The template line of the exception being handled: Jinja rewrites its traceback to template lines."""
    tb = sys.exc_info()[2]
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == part:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render_part(part: str, source: str, context: dict[str, Any]) -> str:
    env = env_for(part)
    try:
        # Compiled under the part's name, so a runtime error's traceback says which part and line.
        code = env.compile(source, name=part, filename=part)
        template = env.template_class.from_code(env, code, env.make_globals(None))
        return template.render(context)
    except SecurityError as exc:
        raise TemplateProblem(f"not allowed: {exc}", part=part, line=_template_line(part)) from None
    except UndefinedError as exc:
        raise TemplateProblem(f"missing value: {exc.message}", part=part, line=_template_line(part)) from None
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"syntax error: {exc.message}", part=part, line=exc.lineno) from None
    except (TemplateError, TypeError, ValueError, ArithmeticError) as exc:
        raise TemplateProblem(f"could not render: {exc}", part=part, line=_template_line(part)) from None


@dataclass
class RenderedMessage:
    subject: str | None
    text: str
    html: str | None
    whatsapp_parameters: list[str]


def render(content: TemplateContent, context: dict[str, Any]) -> RenderedMessage:
    subject = render_part("subject", content.subject, context).strip() if content.subject else None
    text = render_part("text_body", content.text_body, context) if content.text_body else ""
    html = render_part("html_body", content.html_body, context) if content.html_body else None
    params = [render_part(f"whatsapp.parameters[{i}]", p, context).strip()
              for i, p in enumerate(whatsapp_parameters(content.meta))]
    return RenderedMessage(subject=subject, text=text, html=html, whatsapp_parameters=params)
