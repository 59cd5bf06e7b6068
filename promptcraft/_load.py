"""Loading: format text or file -> validated declaration -> generated code -> ``Format``.

The one orchestrator: it reads (``_spec.toml``), checks (``_spec.validate``),
generates and compiles (``_engine``), and injects into each ``Format`` what it
needs at run time (the reference interpreter as the fallback, the options
handler, the recipe that rebuilds it when unpickled). Nothing imports it but
the facade and the registry.
"""

from __future__ import annotations

import os

from ._format import Format
from .errors import FormatError

TYPE_CHECKING = False
if TYPE_CHECKING:  # the precompiled path (import plus a first render) stays free of typing
    from typing import Any, Callable, Dict, Optional, Tuple


def _label(path: Any) -> Optional[str]:
    """``path`` as the text that labels errors and ``Format.path``."""
    if path is None or isinstance(path, str):
        return path
    if isinstance(path, os.PathLike):
        return os.fspath(path)
    raise FormatError("path must be a string or a path")


def spec_from_text(text: str, path: Optional[str], resolve: Optional[Callable[[str], Any]] = None) -> Any:
    """The validated declaration in TOML ``text`` (``path`` labels errors); ``resolve`` finds a
    built-in format by name (the registry's ``get_format``), for a format naming one in ``tool_use``."""
    from ._spec.toml import parse_toml
    from ._spec.validate import build_spec, resolve_tool_use

    path = _label(path)
    if not isinstance(text, str):
        raise FormatError(f"expected TOML text as a string, got {type(text).__name__}", path=path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        line = text.count("\n", 0, error.start) + 1
        raise FormatError("text is not valid Unicode (it holds a lone surrogate)", path=path, line=line) from None
    return resolve_tool_use(build_spec(parse_toml(text, path or "<string>"), path, text), text, resolve)


class Built:
    """What the loader knows of one format, each part made when first needed: the declaration,
    the generated source, the compiled functions and the helpers they run with."""

    def __init__(self, text: Optional[str], path: Optional[str], spec: Any = None,
                 resolve: Optional[Callable[[str], Any]] = None) -> None:
        self.text = text
        self.path = path
        self._spec = spec
        #: Finds a built-in format by name: the one a ``tool_use`` key names renders when tools are given.
        self.resolve = resolve
        self._program: Any = None
        self._namespace: Optional[Dict[str, Any]] = None
        self._functions: Dict[str, Callable[..., Any]] = {}
        self._sources: Dict[str, str] = {}
        self._output: Any = None

    @property
    def spec(self) -> Any:
        if self._spec is None:
            if self.text is None:
                raise TypeError("this format has neither a declaration nor its text")
            self._spec = spec_from_text(self.text, self.path, self.resolve)
        return self._spec

    @property
    def program(self) -> Any:
        """The core representation the code generator reads."""
        if self._program is None:
            from ._engine.lower import lower

            self._program = lower(self.spec)
        return self._program

    def namespace(self, into: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """The globals generated code runs with: the shared helpers plus this format's fallback
        (the reference interpreter) and options handler, both reading the declaration lazily; built
        in ``into`` (a precompiled module's globals) when given."""
        if self._namespace is None:
            from ._runtime.helpers import namespace, options_handler

            def _fallback(messages: Any, add_generation_prompt: bool, given: Dict[str, Any]) -> str:
                from ._engine.reference import render

                values = {k: v for k, v in given.items() if v is not None}
                return render(self.spec, messages, add_generation_prompt, values, values.pop("tools", None),
                              values.pop("documents", None))

            self._namespace = namespace(_fallback, options_handler(lambda: self.spec, self.resolve), into)
        return self._namespace

    def function(self, which: str) -> Callable[..., Any]:
        """The function ``which`` (``render``, ``render_many``): precompiled, or generated and compiled
        on first use (and shared by formats with the same declaration)."""
        found = self._functions.get(which)
        if found is None:
            from ._engine import compile as compiler

            spec = self.spec

            def build() -> Tuple[Callable[..., Any], str]:
                source = self.source(which)
                namespace = self.namespace() if which == "render" else self.function("render").__globals__
                if which == "render_spans":
                    namespace = self.spans_namespace(namespace)
                suffix = "" if which == "render" else "_" + which.split("_", 1)[1]
                return compiler.compile_function(spec.name, which, source, namespace, suffix), source

            found = self._functions[which] = compiler.once((spec, which), build)[0]
        return found

    def source(self, which: str) -> str:
        """The generated source of ``which``."""
        found = self._sources.get(which)
        if found is None:
            from ._engine import pygen

            generate = {"render": pygen.generate, "render_many": pygen.generate_batch,
                        "render_spans": pygen.generate_spans}[which]
            found = self._sources[which] = generate(self.program)
        return found

    def to_toml(self) -> str:
        """The declaration as format-file text (``_spec.dump``), which loads as the same declaration."""
        from ._spec.dump import dump

        return dump(self.spec)

    def output_form(self, tools: bool = False) -> Any:
        """How a completion writes an assistant message (``_parse.output``), made when first asked;
        the ``OutputError`` saying why there is none, for a format whose output cannot be read. With
        ``tools``, a format naming a ``tool_use`` format reads as that one, which renders then."""
        if self._output is None:
            self._output = {}
        spec = self.spec
        which = tools and spec.tool_use_spec is not None
        found = self._output.get(which)
        if found is None:
            from ._parse.output import Unreadable, build_form
            from .errors import OutputError

            target = spec.tool_use_spec if which else spec
            try:
                found = build_form(target, self._default_prompt(which))
            except Unreadable as error:
                found = OutputError(f"format {target.name!r}: parse_output cannot read this format's output: {error}")
            self._output[which] = found
        return found

    def _default_prompt(self, tools: bool) -> str:
        """The prompt a completion follows when the caller gives none: a one-question conversation
        with its generation prompt, as rendered (a format that renders none gets its declared text)."""
        render = self.function("render")
        # A format that needs tools (and one asked with tools) gets an empty list.
        options: "Tuple[Optional[list], ...]" = ([],) if tools else (None, [])
        for messages in ([{"role": "user", "content": "Hi"}],
                         [{"role": "system", "content": "Hi"}, {"role": "user", "content": "Hi"}]):
            for given in options:
                try:
                    return str(render(messages, add_generation_prompt=True, tools=given))
                except Exception:  # noqa: BLE001, S112 - the next conversation may suit the format
                    continue
        spec = self.spec.tool_use_spec if tools else self.spec
        values = {v.name: (v.when_true if v.switch_default else v.when_false) if v.is_switch else v.default or ""
                  for v in spec.variables}
        return str(spec.generation.prompt.fill(values))

    def output_parser(self, prompt: Optional[str], tools: Any) -> Any:
        form = self.output_form(tools is not None)
        if isinstance(form, Exception):
            raise form
        from ._parse.stream import OutputParser

        return OutputParser(form, prompt, tools)

    def response_template(self, tools: bool) -> Any:
        form = self.output_form(tools)
        if isinstance(form, Exception):
            raise form
        from ._parse.response_template import response_template

        return response_template(form)

    def parse_output(self, text: str, prompt: Optional[str], tools: Any) -> Any:
        form = self.output_form(tools is not None)
        if isinstance(form, Exception):
            raise form
        from ._parse.stream import parse_output

        return parse_output(form, text, prompt, tools)

    def spans_namespace(self, base: Dict[str, Any]) -> Dict[str, Any]:
        """``render_spans``'s globals: ``render``'s, with the reference's segments as its fallback."""
        from ._runtime.helpers import spans_namespace

        def _spans_fallback(messages: Any, add_generation_prompt: bool, given: Dict[str, Any]) -> Any:
            from ._engine.reference import segments

            values = {k: v for k, v in given.items() if v is not None}
            return namespace["_Rendered"].from_segments(
                segments(self.spec, messages, add_generation_prompt, values, values.pop("tools", None),
                         values.pop("documents", None)), messages)

        namespace = spans_namespace(base, _spans_fallback, self.spec.stop, self.spec.system.leading_roles)
        return namespace

    def parse(self, prompt: str) -> Any:
        """The conversation ``prompt`` was rendered from (``Format.parse``); the parser is made once."""
        parser = self._functions.get("parse")
        if parser is None:
            from ._parse.prompt import PromptParser

            parser = self._functions["parse"] = PromptParser(self.program, self.function("render")).parse
        return parser(prompt)

    def lint(self) -> Any:
        """The texts each value must not hold for ``parse`` to read it back (``Format.lint``)."""
        from ._parse.lint import lint

        return lint(self.program)


def make_format(built: Built, recipe: Tuple[Callable[..., Any], tuple]) -> Format:
    spec = built.spec
    render = built.function("render")
    return Format(
        render=render, built=built, recipe=recipe, name=spec.name, models=spec.models, stop=spec.stop,
        path=spec.path, control_tokens=spec.control_tokens,
        variables={v.name: (v.switch_default if v.is_switch else v.default) for v in spec.variables},
    )


def loads_format(text: str, *, path: Any = None, recipe: Optional[Tuple[Callable[..., Any], tuple]] = None,
                 resolve: Optional[Callable[[str], Any]] = None) -> Format:
    """Validate and compile a format from TOML ``text`` (``path`` labels errors). It pickles as its
    text, unless ``recipe`` says how else to rebuild it. ``resolve``: see ``spec_from_text``."""
    path = _label(path)
    built = Built(text, path, spec_from_text(text, path, resolve), resolve)
    return make_format(built, recipe or (loads_format_for_pickle, (text, path, resolve)))


def loads_format_for_pickle(text: str, path: Optional[str], resolve: Optional[Callable[[str], Any]] = None) -> Format:
    """Rebuilds an unpickled format from its text (the recipe ``loads_format`` gives a ``Format``)."""
    return loads_format(text, path=path, resolve=resolve)


def load_format(path: "str | os.PathLike[str]", recipe: Optional[Tuple[Callable[..., Any], tuple]] = None,
                resolve: Optional[Callable[[str], Any]] = None) -> Format:
    """Load, validate and compile the format file at ``path``."""
    from ._spec.toml import read_source

    display, text = read_source(path)
    return loads_format(text, path=display, recipe=recipe, resolve=resolve)


def precompiled_format(module: Any, text: str, path: str, recipe: Tuple[Callable[..., Any], tuple],
                       resolve: Optional[Callable[[str], Any]] = None) -> Format:
    """A built-in format from its precompiled module: its declaration is parsed only when needed."""
    from ._runtime.helpers import function_name

    built = Built(text, path, resolve=resolve)
    # In the module's own globals, so that a helper loaded on first use replaces its stand-in there.
    built.namespace(into=vars(module))
    render = module.render
    render.__qualname__ = render.__name__ = function_name(module.NAME)
    many = getattr(module, "render_many", None)
    if many is not None:
        many.__qualname__ = many.__name__ = function_name(module.NAME) + "_many"
        built._functions["render_many"] = many
    built._functions["render"] = render
    fmt = Format(render=render, built=built, recipe=recipe, name=module.NAME, models=module.MODELS,
                 stop=module.STOP, path=path, variables=dict(module.VARIABLES),
                 control_tokens=module.CONTROL_TOKENS)
    fmt._many = many
    return fmt
