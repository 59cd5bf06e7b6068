"""``Format.to_jinja()``: a format's core program (``_engine.ir``) written as a Jinja chat template.

One emitter over the IR's closed vocabulary, as ``pygen`` is one for Python:
a ``Seq`` becomes ``{{- '...' }}`` literals and ``{{- value }}`` slots, a
``Choice`` an ``if``/``elif`` chain over the facts of ``When``, a ``Role`` one
block of the message loop, the ``System`` placement the lines before it. No
branch reads a format's name.

The template is meant for transformers' environment (``trim_blocks``,
``lstrip_blocks``, its ``tojson`` and ``raise_exception``): every tag opens
with ``-``, so the whitespace between tags, which makes the template
readable, is never written. Every string from the format is a quoted Jinja
literal with ``{``, ``}``, ``%`` and ``#`` next to each other escaped, so a
literal can never open a tag.

Where promptcraft refuses a conversation the template calls ``raise_exception`` with the same
meaning (message index and field). A feature not exported yet raises ``promptcraft export: ... is
not exported`` on the input that uses it, never a different prompt: the reasoning display before a
message, reasoning given to a role's texts, a message's ``name`` and attached fields, as listed by
``GAPS``. Tool calls are written as the format writes them (each call's text chosen by its
conditions, its arguments in the format's form, its id and function members where the format writes
them), checked first as promptcraft checks them, and tool definitions written with tojson or by any
named serialiser (each a Jinja macro after the corpus template's own); results name or number the
call they answer. A format naming a ``tool_use`` format refuses tools as not exported in its own
template; ``named_templates`` gives both, as tokenizer_config.json's list of named templates, from
which transformers renders ``tool_use`` whenever tools are given. Tools placed before the last user
message go before every user message the template compares equal to it (Jinja's ``==``, as Mistral's
templates compare them). A content given as a list of parts is joined into its text while the
messages are checked (each part of the first kind it is, media numbered across the conversation
where the labels are on), and ``messages`` is rebound to the joined copies, so the rest of the
template reads text; documents are written as one text where the format places them, numbered as a
call where they count as one. Unknown keyword arguments cannot be seen by a template (transformers
passes the special tokens among them): they are not refused.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple, cast

from .._engine import ir
from .._engine.ir import Choice, Lit, Slot, When
from .._engine.lower import specialize

#: What the exported template refuses as not exported (it raises on input that uses it).
GAPS = (
    "the reasoning display before the message (gpt-oss)",
    "a field a role attaches to its text, and tool definitions a message carries (GLM-4)",
    "tool definitions where a format writes built-in tools as fixed texts ([tools] builtin)",
    "a JSON text for a variable with a serialiser (a list is exported)",
    "a tool result's id written as JSON, other than a string or an integer",
    "a call id written as JSON, other than a string, an integer or null",
)

#: The values of inputs the template refuses as not exported (calls, tools in a message, an attached field,
#: reasoning from a field): a message it writes has none.
_NONE = {"calls": "''", "tools": "''", "attach": "''", "reasoning": "''"}

#: A Jinja test of an empty list of calls (``{}``: the value), which is no calls.
_EMPTY_LIST = "{0} is sequence and {0} is not string and {0} is not mapping and {0}|length == 0"
#: What ``str.splitlines`` (and so Jinja's ``indent``) splits at besides the newline, that JSON text may hold.
_LINE_BREAKS = ("\x85", "\u2028", "\u2029")

_TRIM = {"none": "", "both": ".strip()", "left": ".lstrip()", "right": ".rstrip()", "left_newlines": ".lstrip('\\n')"}
_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def quote(text: str) -> str:
    """``text`` as a Jinja string literal: backslash escapes for quotes, backslashes and what is not
    printable, and no two of ``{ } % #`` side by side, so that it can never open or close a tag."""
    out = []
    for k, ch in enumerate(text):
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif not ch.isprintable():
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        elif ch in "{}%#" and k and text[k - 1] in "{}%#-":
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    body = "".join(out)
    if "'" in text and '"' not in text:  # the other quotes read better than escapes
        return '"' + body.replace("\\'", "'") + '"'
    return "'" + body + "'"


def _tuple(names: Sequence[str]) -> str:
    return "(" + ", ".join(quote(n) for n in names) + ("," if len(names) == 1 else "") + ")"


def _is_in(expr: str, names: Sequence[str]) -> str:
    return f"{expr} == {quote(names[0])}" if len(names) == 1 else f"{expr} in {_tuple(names)}"


def _comment(text: str) -> str:
    return "{#- " + text.replace("#}", "# }") + " #}"


#: Named tool serialisers (``_runtime.serialisers``) as Jinja macros: each writes one definition (its
#: path, ``tools[0]``, names the field of a refusal), refusing with ``raise_exception`` where promptcraft
#: refuses (``UnsupportedFieldError``). ``_pc_type`` is the templates' type macro: Hermes' (``big``
#: false) or Command R+'s (``List``, ``Dict``, an object without ``additionalProperties`` refused).
_TYPE_MACRO = r"""
{%- macro _pc_type(schema, field, big) %}
    {%- if schema is mapping and 'type' in schema %}
        {%- set kind = schema['type'] %}
        {%- if kind is string and kind in ('string', 'number', 'integer', 'boolean') %}
            {{- {'string': 'str', 'number': 'float', 'integer': 'int', 'boolean': 'bool'}[kind] }}
        {%- elif kind == 'array' %}
            {{- 'List[Union[]]' if big else 'list[Union[]]' }}
        {%- elif kind == 'object' %}
            {%- if 'additionalProperties' in schema %}
                {{- ('Dict' if big else 'dict') ~ '[str, ' ~ _pc_type(schema['additionalProperties'], field ~
                        '.additionalProperties', big) ~ ']' }}
            {%- elif big %}
                {{- raise_exception(field ~ '.additionalProperties: an object type without' ~
                        ' additionalProperties makes the template\'s type macro raise') }}
            {%- else %}
                {{- 'dict' }}
            {%- endif %}
        {%- elif kind == '' %}
            {{- 'Union[]' }}
        {%- elif kind is string %}
            {{- raise_exception(field ~ '.type: type ' ~ kind ~
                    ' is not one the template knows (string, number, integer,' ~
                    ' boolean, array, object): its type macro would call itself' ~ ' without end') }}
        {%- elif kind is mapping or (kind is sequence and kind is not string) %}
            {{- 'Union[' }}
            {%- for item in kind %}
                {{- (',' if not loop.first else '') ~ _pc_type({'type': item}, field, big) }}
            {%- endfor %}
            {{- ']' }}
        {%- else %}
            {{- 'Any' }}
        {%- endif %}
    {%- else %}
        {{- 'Union[]' }}
    {%- endif %}
{%- endmacro %}
"""

#: A text a serialiser writes as it is: anything else would be written as its Python repr.
_TEXT_MACRO = r"""
{%- macro _pc_text(value, field, what) %}
    {%- if value is not string %}
        {{- raise_exception(field ~ ': ' ~ what ~ ' must be a string (the template would write its Python repr' ~
                ' or raise)') }}
    {%- endif %}
    {{- value }}
{%- endmacro %}
"""

#: Seed-OSS's and Qwen3-Coder's definitions: the function object (``wrapped``: only the
#: ``{"type": "function", "function": {...}}`` form is written), a trimmed text, a list of items.
_DEFINITIONS_MACROS = r"""
{%- macro _pc_key(field, key) %}
    {{- field ~ ('.' ~ key if key is string else '[' ~ key|string ~ ']') }}
{%- endmacro %}
{%- macro _pc_only(table, allowed, field, what) %}
    {%- for key in table %}
        {%- if key not in allowed %}
            {{- raise_exception(_pc_key(field, key) ~ ': this key of ' ~ what ~ " is not written by the" ~
                    " format's template, so it is refused rather than left out") }}
        {%- endif %}
    {%- endfor %}
{%- endmacro %}
{%- macro _pc_trimmed(table, key, field) %}
    {%- set value = table[key] if key in table else '' %}
    {%- if value is not string %}
        {{- raise_exception(field ~ '.' ~ key ~ ': the template would write a description that is not a string' ~
                ' as its Python str(), which is junk: it is refused') }}
    {%- endif %}
    {{- value.strip() }}
{%- endmacro %}
{%- macro _pc_mapping(table, key, field, needed) %}
    {%- if key not in table and needed %}
        {{- raise_exception(field ~ '.' ~ key ~ ': the template needs it, a mapping; it is missing') }}
    {%- elif key in table and table[key] is not mapping %}
        {{- raise_exception(field ~ '.' ~ key ~ ': it must be a mapping') }}
    {%- endif %}
{%- endmacro %}
{%- macro _pc_list(value, tag, field) %}
    {%- if value is string or value is mapping or value is not sequence %}
        {{- raise_exception(field ~ ": the template would write a '" ~ tag ~ "' that is not a list letter by" ~
                ' letter, or not at all, which is junk: it is refused') }}
    {%- endif %}
    {%- if value %}
        {%- set ns = namespace(items=[]) %}
        {%- for item in value %}
            {%- set ns.items = ns.items + ['`' ~ item ~ '`' if item is string else item|string] %}
        {%- endfor %}
        {{- '\n<' ~ tag ~ '>[' ~ ns.items|join(', ') ~ ']</' ~ tag ~ '>' }}
    {%- endif %}
{%- endmacro %}
"""

_SERIALISERS = {
    "xml_schema": _DEFINITIONS_MACROS + r"""
{%- macro _pc_item(tool, field) %}
    {%- if 'type' in tool and tool['type'] != 'function' %}
        {{- raise_exception(field ~ ".type: the template writes definitions of type 'function' only") }}
    {%- endif %}
    {%- if 'function' in tool %}
        {{- _pc_only(tool, ('type', 'function'), field, 'a tool definition') }}
        {%- set f = tool['function'] %}
        {%- set field = field ~ '.function' %}
        {%- set allowed = ('name', 'description', 'parameters', 'return') %}
    {%- else %}
        {#- the definition is the function object, its 'type' taken out #}
        {%- set f = tool %}
        {%- set allowed = ('type', 'name', 'description', 'parameters', 'return') %}
    {%- endif %}
    {{- _pc_only(f, allowed, field, 'a function') }}
    {{- '<function>\n<name>' ~ f['name'] ~ '</name>\n<description>' ~ _pc_trimmed(f, 'description', field) ~
            '</description>\n<parameters>' }}
    {{- _pc_mapping(f, 'parameters', field, true) }}
    {%- set parameters = f['parameters'] %}
    {%- set at = field ~ '.parameters' %}
    {{- _pc_only(parameters, ('type', 'properties', 'required'), at, "the parameters' schema") }}
    {{- _pc_mapping(parameters, 'properties', at, false) }}
    {%- for name, schema in (parameters['properties'] if 'properties' in parameters else {}).items() %}
        {%- set here = _pc_key(at ~ '.properties', name) %}
        {%- if schema is not mapping %}
            {{- raise_exception(here ~ ": a parameter's schema must be a mapping") }}
        {%- endif %}
        {{- '\n<parameter>\n<name>' ~ name|string ~ '</name>' }}
        {%- if 'type' in schema %}
            {{- '\n<type>' ~ schema['type']|string ~ '</type>' }}
        {%- endif %}
        {%- if 'description' in schema %}
            {{- '\n<description>' ~ _pc_trimmed(schema, 'description', here) ~ '</description>' }}
        {%- endif %}
        {%- if 'enum' in schema %}
            {{- _pc_list(schema['enum'], 'enum', here ~ '.enum') }}
        {%- endif %}
        {%- for key, value in schema.items() %}
            {%- if key not in ('type', 'description', 'enum', 'required') %}
                {%- set tag = key|string|replace('-', '_')|replace(' ', '_')|replace('$', '') %}
                {{- '\n<' ~ tag ~ '>' ~ (value|tojson if value is mapping else value|string) ~ '</' ~ tag ~ '>' }}
            {%- endif %}
        {%- endfor %}
        {%- if 'required' in schema %}
            {{- _pc_list(schema['required'], 'required', here ~ '.required') }}
        {%- endif %}
        {{- '\n</parameter>' }}
    {%- endfor %}
    {%- if 'required' in parameters %}
        {{- _pc_list(parameters['required'], 'required', at ~ '.required') }}
    {%- endif %}
    {{- '\n</parameters>' }}
    {%- if 'return' in f %}
        {{- '\n<return>' ~ (f['return']|tojson if f['return'] is mapping else f['return']|string) ~ '</return>' }}
    {%- endif %}
    {{- '\n</function>' }}
{%- endmacro %}
""",
    "python_docstring": _DEFINITIONS_MACROS + r"""
{%- macro _pc_pytype(schema) %}
    {%- set kind = schema['type'] if 'type' in schema else none %}
    {{- {'string': 'str', 'number': 'int', 'integer': 'int', 'boolean': 'bool', 'array': 'list'}.get(kind, 'Any')
            if kind is string else 'Any' }}
{%- endmacro %}
{%- macro _pc_described(schema, field) %}
    {%- set value = schema['description'] if 'description' in schema else none %}
    {%- if value is not none and value != '' %}
        {%- if value is not string %}
            {{- raise_exception(field ~ '.description: the template would write a description that is not a' ~
                    ' string as its Python str(), which is junk: it is refused') }}
        {%- endif %}
        {{- value }}
    {%- endif %}
{%- endmacro %}
{%- macro _pc_schemas(properties, field) %}
    {%- for name, schema in properties.items() %}
        {%- if schema is not mapping %}
            {{- raise_exception(_pc_key(field, name) ~ ": a parameter's schema must be a mapping") }}
        {%- endif %}
        {%- for key in schema %}
            {%- if key not in ('type', 'description') and key not in __IGNORE__ %}
                {{- raise_exception(_pc_key(_pc_key(field, name), key) ~ ": this key of a parameter's" ~
                        " schema is not written by the format's template, so it is refused rather than left out") }}
            {%- endif %}
        {%- endfor %}
    {%- endfor %}
{%- endmacro %}
{%- macro _pc_item(tool, field) %}
    {%- if 'type' not in tool or tool['type'] != 'function' %}
        {{- raise_exception(field ~ ".type: the template writes definitions of type 'function' only") }}
    {%- endif %}
    {%- if 'function' not in tool %}
        {{- raise_exception(field ~ ".function: the template reads the definition's 'function' object and" ~
                ' leaves this one out') }}
    {%- endif %}
    {{- _pc_only(tool, ('type', 'function'), field, 'a tool definition') }}
    {%- set f = tool['function'] %}
    {%- set field = field ~ '.function' %}
    {{- _pc_only(f, ('name', 'description', 'parameters', 'returns'), field, 'a function') }}
    {{- _pc_mapping(f, 'parameters', field, true) }}
    {%- set parameters = f['parameters'] %}
    {%- set at = field ~ '.parameters' %}
    {{- _pc_only(parameters, ('type', 'properties', 'required'), at, "the parameters' schema") }}
    {{- _pc_mapping(parameters, 'properties', at, true) }}
    {%- set properties = parameters['properties'] %}
    {%- set required = parameters['required'] if 'required' in parameters else [] %}
    {%- if required is string or required is mapping or required is not sequence %}
        {{- raise_exception(at ~ ".required: the template would write a 'required' that is not a list as one" ~
                ' (a string letter by letter), which is junk: it is refused') }}
    {%- endif %}
    {{- _pc_schemas(properties, at ~ '.properties') }}
    {%- set ns = namespace(signature=[], args='') %}
    {%- for name, schema in properties.items() %}
        {%- set ns.signature = ns.signature + [name|string ~ ': ' ~ _pc_pytype(schema)] %}
        {%- set ns.args = ns.args ~ '\n    - ' ~ name|string ~ ' (' ~ _pc_pytype(schema) ~ ') ' ~
                ('[必填]' if name|string in required else '[选填]') ~ ': ' ~
                _pc_described(schema, _pc_key(at ~ '.properties', name)) %}
    {%- endfor %}
    {{- 'def ' ~ f['name'] ~ '(' ~ ns.signature|join(',') ~ '):\n    \x22\x22\x22\n    ' ~
            _pc_trimmed(f, 'description', field) ~ '\n\n' }}
    {%- if properties %}
        {{- '    Args:' ~ ns.args }}
    {%- endif %}
    {{- '\n' }}
    {%- if 'returns' in f %}
        {{- _pc_mapping(f, 'returns', field, true) }}
        {{- _pc_only(f['returns'], ('type', 'properties'), field ~ '.returns', "the returns' schema") }}
        {%- set written = f['returns']['properties'] if 'properties' in f['returns'] else none %}
        {%- if written is not mapping or not written %}
            {{- raise_exception(field ~ ".returns: the template writes 'returns' only with properties, and" ~
                    ' leaves this one out') }}
        {%- endif %}
        {{- _pc_schemas(written, field ~ '.returns.properties') }}
        {{- '    Returns:' }}
        {%- for name, schema in written.items() %}
            {{- '\n    - ' ~ name|string ~ ' (' ~ _pc_pytype(schema) ~ '): ' ~
                    _pc_described(schema, _pc_key(field ~ '.returns.properties', name)) }}
        {%- endfor %}
    {%- endif %}
    {{- '\n    \x22\x22\x22' }}
{%- endmacro %}
""",
    # Mistral's hand-built JSON: 'return' left out, a key or string value the template would splice
    # between quotes unescaped refused (``tojson`` of it differs from it between quotes).
    "json_spliced": r"""
{%- macro _pc_item(tool, field) %}
    {%- if tool['function'] is not defined or tool['function'] is none %}
        {{- raise_exception(field ~ ".function: the template reads each tool's 'function' object ({'type':" ~
                " 'function', 'function': {'name': ...}})") }}
    {%- endif %}
    {%- for key, value in tool.items() %}
        {%- if key == 'type' and value is not none and value != 'function' %}
            {{- raise_exception(field ~ '.type: the template writes every tool as type \'function\'') }}
        {%- elif key not in ('type', 'function') and value is not none %}
            {{- raise_exception(field ~ '.' ~ key ~ ": the template writes a tool's 'function' object only: this" ~
                    ' key would be left out, so it is refused') }}
        {%- endif %}
    {%- endfor %}
    {%- set ns = namespace(text='') %}
    {%- for key, value in tool['function'].items() %}
        {%- if key != 'return' %}
            {%- if key is not string or key|tojson != '"' ~ key ~ '"' %}
                {{- raise_exception(field ~ '.function: the template writes the key ' ~ key|string ~
                        ' between quotes unescaped, which is not JSON: it is refused') }}
            {%- endif %}
            {%- if value is string and value|tojson != '"' ~ value ~ '"' %}
                {{- raise_exception(field ~ '.function.' ~ key ~ ': the template writes a string value between' ~
                        ' quotes unescaped: with a quote, a backslash or a control character it is not JSON, so' ~
                        ' it is refused') }}
            {%- endif %}
            {%- set ns.text = ns.text ~ (', ' if ns.text else '') ~ key|tojson ~ ': ' ~ value|tojson %}
        {%- endif %}
    {%- endfor %}
    {{- '{"type": "function", "function": {' ~ ns.text ~ '}}' }}
{%- endmacro %}
""",
    # gpt-oss's TypeScript namespace entries, after its template's render_typescript_type (_runtime.typescript).
    "typescript": r"""
{%- macro _pc_ts_refuse(field, reason) %}
    {{- raise_exception(field ~ ': ' ~ reason ~ ": this format's template cannot write it as TypeScript") }}
{%- endmacro %}
{%- macro _pc_ts_text(value, field) %}
    {%- if value is not string %}
        {{- _pc_ts_refuse(field, 'is not a string, where the template joins a string') }}
    {%- endif %}
    {{- value }}
{%- endmacro %}
{%- macro _pc_ts_words(values, field, sep) %}
    {%- if values is string or values is mapping or values is not sequence %}
        {{- _pc_ts_refuse(field, 'must be a list') }}
    {%- endif %}
    {%- for value in values %}
        {%- if value is boolean or not (value is string or value is integer or value is float) %}
            {{- _pc_ts_refuse(field ~ '[' ~ loop.index0 ~ ']', "is not a string or a number (the template would" ~
                    " write Python's text of it)") }}
        {%- endif %}
        {{- (sep if not loop.first else '') ~ value|string }}
    {%- endfor %}
{%- endmacro %}
{%- macro _pc_ts_required(schema, field) %}
    {%- set required = schema.get('required') %}
    {%- if required and (required is string or required is mapping or required is not sequence) %}
        {{- _pc_ts_refuse(field ~ '.required', 'must be a list of names') }}
    {%- endif %}
{%- endmacro %}
{%- macro _pc_ts_schema(value, field) %}
    {%- if value is not mapping %}
        {{- _pc_ts_refuse(field, "is not a schema (a mapping); the template would write it as 'any'") }}
    {%- endif %}
{%- endmacro %}
{%- macro _pc_ts_type(spec, field) %}
    {{- _pc_ts_schema(spec, field) }}
    {%- set kind = spec.get('type') %}
    {%- if kind == 'array' %}
        {%- set items = spec.get('items') %}
        {%- if items %}
            {{- _pc_ts_schema(items, field ~ '.items') }}
            {%- set inner_kind = items.get('type') %}
            {%- if inner_kind == 'string' %}
                {%- set out = 'string[]' %}
            {%- elif inner_kind == 'number' or inner_kind == 'integer' %}
                {%- set out = 'number[]' %}
            {%- elif inner_kind == 'boolean' %}
                {%- set out = 'boolean[]' %}
            {%- else %}
                {%- set inner = _pc_ts_type(items, field ~ '.items') %}
                {%- set out = 'any[]' if inner == 'object | object' or inner|length > 50 else inner ~ '[]' %}
            {%- endif %}
        {%- else %}
            {%- set out = 'any[]' %}
        {%- endif %}
        {{- out ~ (' | null' if spec.get('nullable') else '') }}
    {%- elif kind is sequence and kind is not string and kind is not mapping and kind %}
        {{- _pc_ts_words(kind, field ~ '.type', ' | ') }}
    {%- elif spec.get('oneOf') %}
        {%- set variants = spec['oneOf'] %}
        {%- if variants is string or variants is mapping or variants is not sequence %}
            {{- _pc_ts_refuse(field ~ '.oneOf', 'must be a list of schemas') }}
        {%- endif %}
        {%- for variant in variants %}
            {%- set where = field ~ '.oneOf[' ~ loop.index0 ~ ']' %}
            {{- _pc_ts_type(variant, where) }}
            {%- if variant.get('description') %}
                {{- '// ' ~ _pc_ts_text(variant['description'], where ~ '.description') }}
            {%- endif %}
            {%- if 'default' in variant %}
                {{- '                    // default: ' ~ variant['default']|tojson }}
            {%- endif %}
            {%- if not loop.last %}
                {{- ' | \n' }}
            {%- endif %}
        {%- endfor %}
    {%- elif kind == 'string' %}
        {%- if spec.get('enum') %}
            {{- '"' ~ _pc_ts_words(spec['enum'], field ~ '.enum', '" | "') ~ '"' }}
        {%- else %}
            {{- 'string | null' if spec.get('nullable') else 'string' }}
        {%- endif %}
    {%- elif kind == 'number' or kind == 'integer' %}
        {{- 'number' }}
    {%- elif kind == 'boolean' %}
        {{- 'boolean' }}
    {%- elif kind == 'object' %}
        {%- set properties = spec.get('properties') %}
        {%- if not properties %}
            {{- 'object' }}
        {%- else %}
            {%- if properties is not mapping %}
                {{- _pc_ts_refuse(field ~ '.properties', 'must be a mapping of names to schemas') }}
            {%- endif %}
            {{- _pc_ts_required(spec, field) }}
            {%- set required = spec.get('required') or [] %}
            {{- '{\n' }}
            {%- for name, inner in properties.items() %}
                {%- set where = field ~ '.properties.' ~ name|string %}
                {%- if name is not string %}
                    {{- _pc_ts_refuse(where, 'has a name that is not a string') }}
                {%- endif %}
                {{- (', ' if not loop.first else '') ~ name ~ ('' if name in required else '?') ~
                        ': \n                ' ~ _pc_ts_type(inner, where) }}
            {%- endfor %}
            {{- '}' }}
        {%- endif %}
    {%- else %}
        {{- 'any' }}
    {%- endif %}
{%- endmacro %}
{%- macro _pc_item(tool, field) %}
    {%- set f = tool.get('function') %}
    {%- if f is not mapping %}
        {{- raise_exception(field ~ ".function: this format's template reads each definition's 'function'" ~
                " object ({'type': 'function', 'function': {...}})") }}
    {%- endif %}
    {%- set field = field ~ '.function' %}
    {{- '// ' ~ _pc_ts_text(f.get('description'), field ~ '.description') ~ '\ntype ' ~
            _pc_ts_text(f.get('name'), field ~ '.name') ~ ' = ' }}
    {%- set parameters = f.get('parameters') %}
    {%- if not parameters %}
        {{- '() => any;\n\n' }}
    {%- else %}
        {%- if parameters is not mapping %}
            {{- _pc_ts_refuse(field ~ '.parameters', 'is not a schema (a mapping); the template would leave it out') }}
        {%- endif %}
        {%- set properties = parameters.get('properties') %}
        {%- if not properties %}
            {{- '() => any;\n\n' }}
        {%- else %}
            {%- if properties is not mapping %}
                {{- _pc_ts_refuse(field ~ '.parameters.properties', 'must be a mapping of names to schemas') }}
            {%- endif %}
            {{- _pc_ts_required(parameters, field ~ '.parameters') }}
            {%- set required = parameters.get('required') or [] %}
            {{- '(_: {\n' }}
            {%- for name, spec in properties.items() %}
                {%- set where = field ~ '.parameters.properties.' ~ name|string %}
                {%- if name is not string %}
                    {{- _pc_ts_refuse(where, 'has a name that is not a string') }}
                {%- endif %}
                {{- _pc_ts_schema(spec, where) }}
                {%- if spec.get('description') %}
                    {{- '// ' ~ _pc_ts_text(spec['description'], where ~ '.description') ~ '\n' }}
                {%- endif %}
                {{- name ~ ('' if name in required else '?') ~ ': ' ~ _pc_ts_type(spec, where) }}
                {%- if 'default' in spec %}
                    {%- if spec.get('enum') %}
                        {{- ', // default: ' ~ _pc_ts_text(spec['default'], where ~ '.default') }}
                    {%- elif spec.get('oneOf') %}
                        {{- '// default: ' ~ _pc_ts_text(spec['default'], where ~ '.default') }}
                    {%- else %}
                        {{- ', // default: ' ~ spec['default']|tojson }}
                    {%- endif %}
                {%- endif %}
                {{- ',\n' }}
            {%- endfor %}
            {{- '}) => any;\n\n' }}
        {%- endif %}
    {%- endif %}
{%- endmacro %}
""",
    # MiniCPM3's pydantic code (_runtime.definitions.pydantic_signature): classes first, then the def.
    "pydantic_signature": _DEFINITIONS_MACROS + r"""
{%- macro _pc_pd_annotation(name, schema, field, classed) %}
    {%- set types = {'string': 'str', 'number': 'float', 'integer': 'int', 'boolean': 'bool', 'null': 'None'} %}
    {%- if schema is not mapping %}
        {{- raise_exception(field ~ ': a schema must be a mapping') }}
    {%- endif %}
    {%- set kind = schema.get('type') %}
    {%- if schema.get('enum') or (kind == 'object' and schema.get('properties')) %}
        {%- if not classed %}
            {{- raise_exception(field ~ ': the template would write the name of a class for this schema (an enum' ~
                    ' or an object with properties) without the class, which is junk: it is refused') }}
        {%- endif %}
        {{- name|title }}
    {%- elif kind is string and kind in types %}
        {{- types[kind] }}
    {%- elif kind == 'array' %}
        {%- if schema.get('items') is not mapping %}
            {{- raise_exception(field ~ ".items: the template would write an array without typed 'items' as" ~
                    ' List[Union[]], which is junk: it is refused') }}
        {%- endif %}
        {%- set items = schema['items'] %}
        {{- 'List[' ~ _pc_pd_annotation(name, items, field ~ '.items', classed and items.get('type') == 'object') ~
                ']' }}
    {%- elif kind == 'object' %}
        {%- set extra = schema.get('additionalProperties') %}
        {%- if extra is not mapping or not extra %}
            {{- raise_exception(field ~ ": the template would write an object without properties or typed" ~
                    " 'additionalProperties' as Dict[str, Union[]], which is junk: it is refused") }}
        {%- endif %}
        {{- 'Dict[str, ' ~ _pc_pd_annotation(name, extra, field ~ '.additionalProperties', false) ~ ']' }}
    {%- elif kind is sequence and kind is not string and kind is not mapping and kind and
            kind|reject('string')|list|length == 0 and kind|reject('in', types)|list|length == 0 %}
        {%- set ns = namespace(out=[]) %}
        {%- for t in kind %}
            {%- set ns.out = ns.out + [types[t]] %}
        {%- endfor %}
        {{- 'Union[' ~ ns.out|join(', ') ~ ']' }}
    {%- else %}
        {{- raise_exception(field ~ '.type: the template would write the type ' ~ kind|string ~ ' as Union[] (or' ~
                ' fail on it), which is junk: it is refused') }}
    {%- endif %}
{%- endmacro %}
{%- macro _pc_pd_default(schema) %}
    {%- if 'default' not in schema %}
        {{- 'None' }}
    {%- else %}
        {{- schema['default']|tojson if schema['default'] is string else schema['default']|string }}
    {%- endif %}
{%- endmacro %}
{#- An object schema's classes (classes=true: the classes its properties need, nested ones first) or its
    fields (each after indent), checked alike either way. #}
{%- macro _pc_pd_fields(schema, field, indent, classes) %}
    {%- set required = schema.get('required', []) %}
    {%- if required is string or required is mapping or required is not sequence %}
        {{- raise_exception(field ~ ".required: the template would write a 'required' that is not a list as one" ~
                ' (a string letter by letter), which is junk: it is refused') }}
    {%- endif %}
    {%- set properties = schema.get('properties', {}) %}
    {%- if properties is not mapping %}
        {{- raise_exception(field ~ ".properties: 'properties' must be a mapping") }}
    {%- endif %}
    {%- for key, spec in properties.items() %}
        {%- set name = key|string %}
        {%- set here = _pc_key(field ~ '.properties', key) %}
        {%- if spec is not mapping %}
            {{- raise_exception(here ~ ": a parameter's schema must be a mapping") }}
        {%- endif %}
        {%- set read = ['enum', 'type', 'title', 'description', 'pattern', 'default'] + (
                [] if spec.get('enum') else (['properties', 'required'] if spec.get('properties') else
                ['additionalProperties']) if spec.get('type') == 'object' else ['items']
                if spec.get('type') == 'array' else []) %}
        {%- for unread in spec %}
            {%- if unread not in read and unread not in __IGNORE__ %}
                {{- raise_exception(_pc_key(here, unread) ~ ": this key of a parameter's schema is not" ~
                        " written by the format's template, so it is refused rather than left out") }}
            {%- endif %}
        {%- endfor %}
        {%- set enum = spec.get('enum') %}
        {%- if enum and (enum is string or enum is mapping or enum is not sequence) %}
            {{- raise_exception(here ~ ".enum: the template would write an 'enum' that is not a list letter by" ~
                    ' letter, which is junk: it is refused') }}
        {%- endif %}
        {%- if enum %}
            {%- if classes %}
                {{- '\n\nclass ' ~ name|title ~ '(Enum):\n' }}
                {%- for option in enum %}
                    {{- '    enum_' ~ loop.index0 ~ ' = ' ~ option|tojson ~ '\n' }}
                {%- endfor %}
            {%- endif %}
        {%- elif spec.get('type') == 'object' and spec.get('properties') %}
            {%- set nested = _pc_pd_fields(spec, here, '    ', false) %}
            {%- if classes %}
                {{- _pc_pd_fields(spec, here, '    ', true) ~ '\n\nclass ' ~ name|title ~ '(BaseModel):\n' ~ nested }}
            {%- endif %}
        {%- elif spec.get('type') == 'array' and spec.get('items') is mapping and
                spec['items'].get('type') == 'object' and spec['items'].get('properties') %}
            {%- set nested = _pc_pd_fields(spec['items'], here ~ '.items', '    ', false) %}
            {%- if classes %}
                {{- _pc_pd_fields(spec['items'], here ~ '.items', '    ', true) ~ '\n\nclass ' ~ name|title ~
                        '(BaseModel):\n' ~ nested }}
            {%- endif %}
        {%- endif %}
        {%- set annotation = _pc_pd_annotation(name, spec, here, true) %}
        {%- if not classes %}
            {%- set line = indent ~ name ~ ': ' ~ (annotation if name in required else 'Optional[' ~ annotation ~
                    ']') %}
            {%- if not (spec.get('title') or spec.get('description') or spec.get('pattern')) %}
                {%- set line = line ~ ('' if name in required else ' = ' ~ _pc_pd_default(spec)) %}
            {%- else %}
                {%- set ns = namespace(line=line ~ (' = Field(...' if name in required else ' = Field(' ~
                        _pc_pd_default(spec))) %}
                {%- for key, label in (('description', 'description'), ('pattern', 'regex'), ('title', 'title')) %}
                    {%- if spec.get(key) %}
                        {%- set ns.line = ns.line ~ ', ' ~ label ~ '=' ~ spec[key]|tojson %}
                    {%- endif %}
                {%- endfor %}
                {%- set line = ns.line ~ ')' %}
            {%- endif %}
            {{- line ~ '\n' }}
        {%- endif %}
    {%- endfor %}
{%- endmacro %}
{%- macro _pc_item(tool, field) %}
    {%- if 'type' in tool and tool['type'] != 'function' %}
        {{- raise_exception(field ~ ".type: the template writes definitions of type 'function' only") }}
    {%- endif %}
    {%- if 'function' in tool %}
        {{- _pc_only(tool, ('type', 'function'), field, 'a tool definition') }}
        {%- set f = tool['function'] %}
        {%- set field = field ~ '.function' %}
        {%- set allowed = ('name', 'description', 'parameters') %}
    {%- else %}
        {%- set f = tool %}
        {%- set allowed = ('type', 'name', 'description', 'parameters') %}
    {%- endif %}
    {{- _pc_only(f, allowed, field, 'a function') }}
    {%- set description = f.get('description', '') %}
    {%- if description is not string %}
        {{- raise_exception(field ~ '.description: the template would write a description that is not a string' ~
                ' as its Python str(), which is junk: it is refused') }}
    {%- endif %}
    {%- set parameters = f.get('parameters') %}
    {%- if parameters is not none and parameters is not mapping %}
        {{- raise_exception(field ~ ".parameters: 'parameters' must be a mapping") }}
    {%- endif %}
    {%- set parameters = parameters or {} %}
    {%- set at = field ~ '.parameters' %}
    {{- _pc_only(parameters, ('type', 'properties', 'required'), at, "the parameters' schema") }}
    {%- set classes = _pc_pd_fields(parameters, at, '        ', true) %}
    {%- set fields = _pc_pd_fields(parameters, at, '        ', false) %}
    {%- set required = parameters.get('required', []) %}
    {%- set ns = namespace(names=[]) %}
    {%- for key, spec in (parameters.get('properties') or {}).items() %}
        {%- set ns.names = ns.names + [key|string ~ ('' if key|string in required else '=' ~ _pc_pd_default(spec))] %}
    {%- endfor %}
    {{- classes ~ '\n\ndef ' ~ f['name'] ~ '(' ~ ns.names|join(', ') ~ '):\n    \x22\x22\x22' ~ description ~
            ('\n\n    Args:\n' if parameters else '\n') ~ fields ~ '    \x22\x22\x22\n' }}
{%- endmacro %}
""",
    # Functionary v3.2's TypeScript entries, after its template's macros (_runtime.functionary's port).
    "functionary": r"""
{%- macro _pc_fx_text(value, field) %}
    {%- if value is not string %}
        {{- raise_exception(field ~ ": is not a string, where the template joins a string: this format's template" ~
                ' cannot write it') }}
    {%- endif %}
    {{- value }}
{%- endmacro %}
{%- macro _pc_fx_word(value, field) %}
    {%- if value is boolean or not (value is string or value is integer or value is float) %}
        {{- raise_exception(field ~ ": is not a string or a number (the template would write Python's text of" ~
                " it): this format's template cannot write it") }}
    {%- endif %}
    {{- value|string }}
{%- endmacro %}
{%- macro _pc_fx_mapping(value, field) %}
    {%- if value is not mapping %}
        {{- raise_exception(field ~ ": is not a mapping (the template leaves it out, or raises): this format's" ~
                ' template cannot write it') }}
    {%- endif %}
{%- endmacro %}
{%- macro _pc_fx_required(schema, field) %}
    {%- set required = schema.get('required', []) %}
    {%- if required is string or required is mapping or required is not sequence %}
        {{- raise_exception(field ~ '.required: must be a list of names (a string would be tested as text):' ~
                " this format's template cannot write it") }}
    {%- endif %}
{%- endmacro %}
{%- macro _pc_fx_type(param, field) %}
    {%- set ns = namespace(kind='', seen=[]) %}
    {%- if 'type' in param %}
        {%- set raw = param['type'] %}
        {%- if raw is sequence and raw is not string and raw is not mapping %}
            {%- for item in raw %}
                {%- set ns.kind = ns.kind ~ (' | ' if not loop.first else '') ~ _pc_fx_text(item, field ~ '.type[' ~
                        loop.index0 ~ ']') %}
            {%- endfor %}
        {%- else %}
            {%- set ns.kind = _pc_fx_text(raw, field ~ '.type') %}
        {%- endif %}
    {%- elif 'oneOf' in param %}
        {%- set variants = param['oneOf'] %}
        {%- if variants is string or variants is mapping or variants is not sequence %}
            {{- raise_exception(field ~ ".oneOf: must be a list of schemas: this format's template cannot write it") }}
        {%- endif %}
        {%- for variant in variants %}
            {%- if variant is mapping and 'type' in variant %}
                {%- set kind = _pc_fx_text(variant['type'], field ~ '.oneOf[' ~ loop.index0 ~ '].type') %}
                {%- if kind.lower() not in ns.seen %}
                    {%- set ns.seen = ns.seen + [kind.lower()] %}
                    {%- set ns.kind = ns.kind ~ (' | ' if ns.seen|length > 1 else '') ~ kind %}
                {%- endif %}
            {%- endif %}
        {%- endfor %}
    {%- endif %}
    {{- 'number' if ns.kind in ('integer', 'float') else ns.kind }}
{%- endmacro %}
{%- macro _pc_fx_format(param, field) %}
    {%- if 'format' in param %}
        {{- _pc_fx_word(param['format'], field ~ '.format') }}
    {%- elif 'oneOf' not in param %}
        {{- '<|NONE|>' }}
    {%- else %}
        {%- set variants = param['oneOf'] %}
        {%- if variants is string or variants is mapping or variants is not sequence or
                variants|reject('mapping')|list %}
            {{- raise_exception(field ~ ".oneOf: must be a list of schemas: this format's template cannot write it") }}
        {%- endif %}
        {%- set last = variants[-1].get('format') if variants else none %}
        {%- for variant in variants %}
            {%- if 'format' in variant %}
                {%- set value = _pc_fx_text(variant['format'], field ~ '.oneOf[' ~ loop.index0 ~ '].format') %}
                {{- value if last is not none and value == last else value ~ ' or ' }}
            {%- endif %}
        {%- endfor %}
    {%- endif %}
{%- endmacro %}
{%- macro _pc_fx_info(param, field) %}
    {%- set written = _pc_fx_format(param, field) %}
    {%- set bounds = [('maximum', 'Maximum'), ('minimum', 'Minimum'), ('maxLength', 'Maximum length'),
            ('minLength', 'Minimum length')] %}
    {%- set ns = namespace(bound=false) %}
    {%- for name, label in bounds %}
        {%- if param.get(name) %}
            {%- set ns.bound = true %}
        {%- endif %}
    {%- endfor %}
    {%- if not ('description' in param or 'default' in param or written != '<|NONE|>' or ns.bound) %}
        {{- '<|NONE|>' }}
    {%- else %}
        {{- '//' }}
        {%- if 'description' in param %}
            {%- set description = _pc_fx_text(param['description'], field ~ '.description') %}
            {{- ' ' ~ (description if description.endswith('.') else description ~ '.') }}
        {%- endif %}
        {%- if 'default' in param %}
            {%- set default = _pc_fx_word(param['default'], field ~ '.default') %}
            {{- ' Default=' ~ ('"' ~ default ~ '"' if param.get('type', 'any') == 'string' else default) ~ '.' }}
        {%- endif %}
        {%- if written != '<|NONE|>' %}
            {{- ' Format=' ~ written }}
        {%- endif %}
        {%- for name, label in bounds %}
            {%- if name in param %}
                {{- ' ' ~ label ~ '=' ~ _pc_fx_word(param[name], field ~ '.' ~ name) }}
            {%- endif %}
        {%- endfor %}
    {%- endif %}
{%- endmacro %}
{%- macro _pc_fx_enum(values, field) %}
    {%- if values is string or values is mapping or values is not sequence %}
        {{- raise_exception(field ~ ": must be a list: this format's template cannot write it") }}
    {%- endif %}
    {%- for value in values %}
        {{- '"' ~ value ~ '"' if value is string else _pc_fx_word(value, field ~ '[' ~ loop.index0 ~ ']') }}
        {{- ' | ' if value != values[-1] else '' }}
    {%- endfor %}
{%- endmacro %}
{%- macro _pc_fx_examples(param, name, field, offset) %}
    {%- if 'examples' in param %}
        {%- set examples = param['examples'] %}
        {%- if examples is string or examples is mapping or examples is not sequence %}
            {{- raise_exception(field ~ ".examples: must be a list: this format's template cannot write it") }}
        {%- endif %}
        {{- '\n' ~ offset ~ '// ' ~ ('Example ' ~ name ~ ':').replace("'", '"') }}
        {%- for example in examples %}
            {{- '\n' ~ offset ~ '// ' ~ _pc_fx_word(example, field ~ '.examples[' ~ loop.index0 ~ ']').replace("'",
                    '"') }}
        {%- endfor %}
    {%- endif %}
{%- endmacro %}
{%- macro _pc_fx_array(name, schema, depth, field) %}
    {%- set offset = '    ' * depth %}
    {%- set items = schema.get('items', {}) %}
    {{- _pc_fx_mapping(items, field ~ '.items') }}
    {%- if items|length == 0 %}
        {{- '\n' ~ offset ~ name ~ ': []' if name else '\n' ~ offset ~ '[]' }}
    {%- else %}
        {%- set kind = _pc_fx_type(items, field ~ '.items') %}
        {%- if kind == 'object' %}
            {%- set properties = items.get('properties', {}) %}
            {{- _pc_fx_mapping(properties, field ~ '.items.properties') }}
            {{- _pc_fx_required(items, field ~ '.items') }}
            {%- set inner = _pc_fx_parameters(properties, items.get('required', []), depth + 1, field ~ '.items') %}
            {{- ('\n' ~ offset ~ name ~ ': {' if name else '\n' ~ offset ~ '{') ~ inner ~ '\n' ~ offset ~ '}[]' }}
        {%- elif kind == 'array' %}
            {%- set inner = _pc_fx_array(none, items, depth + 1, field ~ '.items') %}
            {{- '\n' ~ inner ~ '[]' if not name else '\n' ~ offset ~ name ~ ': ' ~ inner.strip() ~ '[]' }}
        {%- elif 'enum' in items %}
            {%- set values = _pc_fx_enum(items['enum'], field ~ '.items.enum') %}
            {{- '(' ~ values ~ ')[]' if name is none else '\n' ~ offset ~ name ~ ': (' ~ values ~ ')[]' }}
        {%- else %}
            {{- '\n' ~ kind ~ '[]' if name is none else '\n' ~ offset ~ name ~ ': ' ~ kind ~ '[],' }}
        {%- endif %}
    {%- endif %}
{%- endmacro %}
{%- macro _pc_fx_parameters(properties, required, depth, field) %}
    {%- set offset = '    ' * depth %}
    {%- for name, param in properties.items() %}
        {%- set where = field ~ '.properties.' ~ name|string %}
        {%- if name is not string %}
            {{- raise_exception(where ~ ": has a name that is not a string: this format's template cannot write" ~
                    ' it') }}
        {%- endif %}
        {{- _pc_fx_mapping(param, where) }}
        {%- set comment = _pc_fx_info(param, where) %}
        {%- set examples = _pc_fx_examples(param, name, where, offset) %}
        {%- set declaration = name if name in required else name ~ '?' %}
        {%- set kind = _pc_fx_type(param, where) %}
        {%- set head = ('\n' ~ offset ~ comment if comment != '<|NONE|>' else '') ~ examples %}
        {%- if kind == 'object' %}
            {%- set inner_properties = param.get('properties', {}) %}
            {{- _pc_fx_mapping(inner_properties, where ~ '.properties') }}
            {{- _pc_fx_required(param, where) }}
            {{- head ~ '\n' ~ offset ~ declaration ~ ': {' ~ _pc_fx_parameters(inner_properties,
                    param.get('required', []), depth + 1, where) ~ '\n' ~ offset ~ '},' }}
        {%- elif kind == 'array' %}
            {%- set items = param.get('items', {}) %}
            {{- _pc_fx_mapping(items, where ~ '.items') }}
            {%- if 'type' not in items %}
                {{- (head if comment != '<|NONE|>' else '') ~ '\n' ~ offset ~ declaration ~ ': [],' }}
            {%- else %}
                {%- set written = _pc_fx_array(declaration, param, depth, where) %}
                {{- head ~ (written if written.endswith(',') else written ~ ',') }}
            {%- endif %}
        {%- else %}
            {%- if not kind and 'enum' not in param %}
                {{- raise_exception(where ~ ": has no type (nor oneOf nor enum): the template would write none:" ~
                        " this format's template cannot write it") }}
            {%- endif %}
            {%- if 'enum' in param %}
                {%- set kind = _pc_fx_enum(param['enum'], where ~ '.enum') %}
            {%- endif %}
            {%- if 'nullable' in param and param['nullable'] %}
                {%- set kind = kind ~ ' | null' %}
            {%- endif %}
            {{- (head if comment != '<|NONE|>' else '') ~ '\n' ~ offset ~ declaration ~ ': ' ~ kind ~ ',' }}
        {%- endif %}
    {%- endfor %}
{%- endmacro %}
{%- macro _pc_item(tool, field) %}
    {%- if tool.get('type') == 'code_interpreter' %}
        {{- raise_exception(field ~ ".type: a code_interpreter tool adds a turn of its own, which this format does" ~
                " not write: this format's template cannot write it") }}
    {%- endif %}
    {%- set f = tool.get('function') or tool %}
    {%- set where = field ~ '.function' if tool.get('function') else field %}
    {{- _pc_fx_mapping(f, where) }}
    {%- set out = '// ' ~ _pc_fx_text(f.get('description', ''), where ~ '.description') ~ '\ntype ' ~
            _pc_fx_text(f.get('name'), where ~ '.name') %}
    {%- set parameters = f.get('parameters', {}) %}
    {%- if parameters and parameters is not mapping %}
        {{- raise_exception(where ~ ".parameters: is not a schema (a mapping): this format's template cannot write" ~
                ' it') }}
    {%- endif %}
    {%- set properties = parameters.get('properties') if parameters else none %}
    {%- if not properties %}
        {{- out ~ ' = () => any;\n\n' }}
    {%- else %}
        {{- _pc_fx_mapping(properties, where ~ '.parameters.properties') }}
        {{- _pc_fx_required(parameters, where ~ '.parameters') }}
        {{- out ~ ' = (_: {' ~ _pc_fx_parameters(properties, parameters.get('required', []), 0, where ~
                '.parameters') ~ '\n}) => any;\n\n' }}
    {%- endif %}
{%- endmacro %}
""",
    "python_repr": r"""
{%- macro _pc_item(tool, field) %}
    {{- tool|string }}
{%- endmacro %}
""",
    "command_r7b": r"""
{%- macro _pc_item(tool, field) %}
    {%- if 'function' not in tool %}
        {{- raise_exception(field ~ ".function: the template reads the definition's 'function'" ~
                " object: give {'type': 'function', 'function': {...}}") }}
    {%- endif %}
    {%- set t = tool['function'] %}
    {%- if 'parameters' not in t %}
        {{- raise_exception(field ~ ".function.parameters: the template writes the tool's" ~
                " 'parameters' through tojson unguarded: give a schema") }}
    {%- endif %}
    {{- '{"name": "' ~ t['name'] ~ '", "description": "' ~ (_pc_text(t['description'], field ~
            '.function.description', 'the description') if 'description' in t else '') ~ '", "parameters": ' ~
            t['parameters']|tojson ~ ', "responses": null}' }}
{%- endmacro %}
""",
    "hermes": r"""
{%- macro _pc_item(tool, field) %}
    {%- set f = field ~ ('.function' if 'function' in tool else '') %}
    {%- set t = tool['function'] if 'function' in tool else tool %}
    {%- if 'description' not in t %}
        {{- raise_exception(f ~ ".description: the template reads the tool's 'description' unguarded: give one") }}
    {%- endif %}
    {%- set description = _pc_text(t['description'], f ~ '.description', 'the description') %}
    {%- if 'parameters' not in t %}
        {{- raise_exception(f ~ ".parameters: the template reads the tool's 'parameters'" ~
                " unguarded: give a schema") }}
    {%- endif %}
    {%- set parameters = t['parameters'] %}
    {%- if parameters is not mapping %}
        {{- raise_exception(f ~ ".parameters: 'parameters' must be a mapping (the template would write {})") }}
    {%- endif %}
    {%- set properties = parameters['properties'] if 'properties' in parameters else {} %}
    {%- if properties is not mapping %}
        {{- raise_exception(f ~ ".parameters.properties: 'properties' must be a mapping") }}
    {%- endif %}
    {%- set ns = namespace(signature='', arguments='') %}
    {%- for key, schema in properties.items() %}
        {%- if key is not string %}
            {{- raise_exception(f ~ ".parameters.properties: a parameter's name must be a string") }}
        {%- endif %}
        {%- set where = f ~ '.parameters.properties.' ~ key %}
        {%- if schema is not mapping %}
            {{- raise_exception(where ~ ": a parameter's schema must be a mapping") }}
        {%- endif %}
        {%- set kind = _pc_type(schema, where, false) %}
        {%- set ns.signature = ns.signature ~ (', ' if not loop.first else '') ~ key ~ ': ' ~ kind %}
        {%- set doc = _pc_text(schema['description'], where ~
                '.description', "a parameter's description").strip() if 'description' in schema else '' %}
        {%- set ns.arguments = ns.arguments ~ '        ' ~ key ~ '(' ~ kind ~ '): ' ~ doc %}
    {%- endfor %}
    {%- set doc = t['name'] ~ '(' ~ ns.signature ~ ')' %}
    {%- if 'return' in t %}
        {%- set doc = doc ~ ' -> ' ~ _pc_type(t['return'], f ~ '.return', false) %}
    {%- endif %}
    {%- set doc = doc ~ ' - ' ~ description ~ '\n\n' %}
    {%- if properties %}
        {%- set doc = doc ~ '    Args:\n' ~ ns.arguments %}
    {%- endif %}
    {%- if 'return' in t and t['return'] is mapping and 'description' in t['return'] %}
        {%- set doc = doc ~ '\n    Returns:\n        ' ~ _pc_text(t['return']['description'], f ~
                '.return.description', 'the return description') %}
    {%- endif %}
    {{- '{"type": "function", "function": {"name": "' ~ t['name'] ~ '", "description": "' ~ doc ~
            '", "parameters": ' ~ (parameters|tojson if properties else '{}') ~ '}' }}
{%- endmacro %}
""",
    "python_signature": r"""
{%- macro _pc_item(tool, field) %}
    {%- set f = field ~ ('.function' if 'function' in tool else '') %}
    {%- set t = tool['function'] if 'function' in tool else tool %}
    {%- if 'parameter_definitions' in t %}
        {{- raise_exception(f ~ '.parameter_definitions: old-style parameter_definitions' ~
                ' switch the template to another layout for every tool,' ~ ' which this format does not declare') }}
    {%- endif %}
    {%- if 'parameters' not in t %}
        {{- raise_exception(f ~ ".parameters: the template reads the tool's 'parameters'" ~
                " unguarded: give a schema") }}
    {%- endif %}
    {%- set parameters = t['parameters'] %}
    {%- if parameters is not mapping %}
        {{- raise_exception(f ~ ".parameters: 'parameters' must be a mapping") }}
    {%- endif %}
    {%- set properties = parameters['properties'] if 'properties' in parameters else {} %}
    {%- if properties is not mapping %}
        {{- raise_exception(f ~ ".parameters.properties: 'properties' must be a mapping") }}
    {%- endif %}
    {%- set required = parameters['required'] if 'required' in parameters else [] %}
    {%- if required is not sequence or required is string or required is mapping %}
        {{- raise_exception(f ~ ".parameters.required: 'required' must be a list (the" ~
                " template tests membership with 'in', a substring test on" ~ " text)") }}
    {%- endif %}
    {%- set description = _pc_text(t['description'], f ~
            '.description', 'the description') if 'description' in t else '' %}
    {%- set ns = namespace(signature='', arguments='') %}
    {%- for key, schema in properties.items() %}
        {%- if key is not string %}
            {{- raise_exception(f ~ ".parameters.properties: a parameter's name must be a string") }}
        {%- endif %}
        {%- set where = f ~ '.parameters.properties.' ~ key %}
        {%- if schema is not mapping %}
            {{- raise_exception(where ~ ": a parameter's schema must be a mapping") }}
        {%- endif %}
        {%- set kind = _pc_type(schema, where, true) %}
        {%- if 'description' not in schema %}
            {{- raise_exception(where ~ ".description: the template reads each parameter's" ~
                    " description unguarded: give one") }}
        {%- endif %}
        {%- set text = _pc_text(schema['description'], where ~ '.description', "a parameter's description") %}
        {%- set kind = kind if key in required else 'Optional[' ~ kind ~ ']' %}
        {%- set ns.signature = ns.signature ~ (', ' if not loop.first else '') ~ key ~ ': ' ~ kind ~
                ('' if key in required else ' = None') %}
        {%- set ns.arguments = ns.arguments ~ ('\n        ' if not loop.first else '') ~ key ~ ' (' ~ kind ~ '): ' ~
                text %}
    {%- endfor %}
    {{- '```python\ndef ' ~ t['name'] ~ '(' ~ ns.signature ~ ') -> List[Dict]:\n    \x22\x22\x22' ~ description }}
    {%- if properties %}
        {{- '\n\n    Args:\n        ' ~ ns.arguments }}
    {%- endif %}
    {{- '\n    \x22\x22\x22\n    pass\n```' }}
{%- endmacro %}
""",
}


class NotExported(Exception):
    """A construct the emitter has no Jinja for; ``to_jinja`` raises it as a ``FormatError``."""


class _Emitter:
    def __init__(self, program: ir.Program, tool_use: Optional[str] = None, empty_tools_refused: bool = False) -> None:
        self.p = program
        #: A format that writes no tools but whose template writes a block for an empty list refuses one.
        self.empty_tools_refused = empty_tools_refused
        #: The format that renders whenever tools are given (transformers' named ``tool_use`` template).
        self.tool_use = tool_use
        self.lines: List[str] = []
        self.depth = 0
        self.roles = list(program.roles) + ([program.any_role] if program.any_role else [])
        self.leading = program.system.leading
        self.hoist = program.system.placement == "hoist"
        self.fold = program.system.placement in ("fold_first", "fold_last")
        whens = [w for r in self.roles for w in _whens(r.body)]
        self.earlier = {name: f"e{k}" for k, name in enumerate(sorted(
            {n for w in whens if w.earlier is not None for n in w.earlier}))}
        #: Facts no exported input has (the template refuses the input that would): decided here.
        self.static: Dict[str, object] = {"calls": False, "earlier_calls": False, "named": False, "reasoning": False,
                                          "tools": False, "documents": False}
        self.values: Dict[str, str] = {v.name: f"_v_{v.name}" for v in program.variables}
        self.values.update({v.lookup_slot: f"_v_{v.lookup_slot}" for v in program.variables if v.lookup_slot})
        #: The tool definitions are exported: written with ``tojson`` (items or the whole list).
        self.tools = program.tools if program.tools is not None and _json_tools(program.tools.layout) else None
        if self.tools is not None:
            del self.static["tools"]
        if program.documents is not None:
            del self.static["documents"]
        if program.refuse_names:
            del self.static["named"]
        self.tools_in_system = self.tools is not None and self.tools.placement in ("system_after", "system_before")
        #: The role that writes tool calls (one at most: ``[calls] role``).
        self.caller = next((r for r in self.roles if r.calls is not None and r.action == "write"), None)
        #: The roles whose content may be a list of parts, and the parts' form (``_runtime.parts``).
        self.part_roles: List[str] = []
        self.parts: Optional[ir.Parts] = None
        for r in self.roles:
            if r.parts is not None:
                self.part_roles += list(r.parts.roles) if r.parts.roles is not None else [r.name or ""]
                self.parts = r.parts
        self.takes_parts = self.parts is not None or program.system.parts != "refuse"
        #: Some role's texts name the call its message answers (``{call_name}``).
        self.names_calls = any(r.names_call for r in self.roles)

    # -- writing ----------------------------------------------------------
    def line(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    def tag(self, statement: str) -> None:
        self.line("{%- " + statement + " %}")

    def comment(self, text: str) -> None:
        self.line(_comment(text))

    def out(self, expr: str) -> None:
        self.line("{{- " + expr + " }}")

    def raise_(self, message: str) -> None:
        self.out(f"raise_exception({message})")

    def refuse(self, test: str, message: str) -> None:
        self.tag(f"if {test}")
        self.depth += 1
        self.raise_(message)
        self.depth -= 1
        self.tag("endif")

    def where(self, text: str, field: str = "") -> str:
        """A message's refusal text: ``messages[i]`` (the role, the field) then ``text`` (a Jinja expression)."""
        at = "'messages[' ~ _i ~ ']" + (("." + field) if field else "") + " (role ' ~ _m.role ~ '): '"
        return f"{at} ~ {quote(text)}"

    def block(self, statement: str) -> "_Block":
        return _Block(self, statement)

    # -- pieces -------------------------------------------------------------
    def seq(self, pieces: ir.Seq, values: Dict[str, str], facts: Dict[str, str]) -> None:
        """Lines writing ``pieces``: literals quoted, values by their expression, choices as if chains."""
        pending = ""
        for piece in pieces:
            if isinstance(piece, Lit):
                pending += piece.text
                continue
            if pending:
                self.out(quote(pending))
                pending = ""
            if isinstance(piece, Slot):
                if piece.name not in values:
                    raise NotExported(f"the value {piece.name!r}")
                if values[piece.name] != "''":
                    self.out(values[piece.name])
            else:
                self.choice(piece, lambda s: self.seq(s, values, facts), facts)
        if pending:
            self.out(quote(pending))

    def choice(self, choice: Choice, write, facts: Dict[str, str]) -> None:
        cases = list(choice.cases)
        while cases and not cases[-1].seq:
            cases.pop()
        if not cases:
            return
        if len(cases) == 1 and cases[0].when.always:
            write(cases[0].seq)
            return
        keyword = "if"
        for case in cases:
            if case.when.always:
                self.tag("else")
            else:
                self.tag(f"{keyword} {self.condition(case.when, facts)}")
            self.depth += 1
            write(case.seq)
            self.depth -= 1
            if case.when.always:
                break
            keyword = "elif"
        self.tag("endif")

    def condition(self, when: When, facts: Dict[str, str]) -> str:
        """The Jinja test of ``when``; ``facts`` gives the expression of each fact where it is read."""
        tests = []
        for name in ("gen", "first", "opening", "final", "empty", "given_empty", "body", "tools", "documents",
                     "named", "reasoning", "calls", "earlier_calls", "thinking"):
            wanted = getattr(when, name)
            if wanted is None:
                continue
            if name not in facts:
                raise NotExported(f"the condition {name!r} here")
            tests.append(facts[name] if wanted else f"not {facts[name]}")
        for name in ("prev_role", "next_role", "first_role", "prev_message"):
            wanted = getattr(when, name)
            if wanted is None:
                continue
            if name not in facts:
                raise NotExported(f"the condition {name!r} here")
            tests.append(_is_in(facts[name], wanted))
        if when.earlier is not None:
            flags = [f"_ns.{self.earlier[n]}" for n in when.earlier]
            tests.append(flags[0] if len(flags) == 1 else "(" + " or ".join(flags) + ")")
        for variable, key in when.has or ():
            tests.append(f"({variable} is mapping and {quote(key)} in {variable})")
        for variable, value in when.equals or ():
            tests.append(f"_n_{variable} == {value!r}")
        return " and ".join(tests) or "true"

    # -- the template ---------------------------------------------------------
    def template(self) -> str:
        p = self.p
        self.comment(f"Chat format {p.name!r}, exported by promptcraft (Format.to_jinja). Every text is a literal "
                     "of the format; where promptcraft refuses a conversation, so does this template.")
        self.tool_use_refused()
        self.variables()
        self.inputs()
        self.checks()
        self.thinking()
        self.start()
        self.system_section()
        if self.p.documents is not None and self.p.documents.placement == "turn_after_system":
            with self.block("if _dt is not none"):
                self.out("_dt")
        if self.p.system.after:
            self.seq(specialize(self.p.system.after, self.static), self.values, self.request_facts())
        self.last_query()
        self.loop()
        self.end()
        return "\n".join(self.lines) + "\n"

    def variables(self) -> None:
        if not self.p.variables:
            return
        self.comment("The format's variables (keyword arguments of apply_chat_template), checked as promptcraft "
                     "checks them.")
        for var in self.p.variables:
            name, local = var.name, f"_v_{var.name}"
            bad = quote(f"variable {name!r} ")
            if var.is_number:
                # Jinja's own tests: a bool is no integer there, but is one to promptcraft (and to Python).
                self.chain([(f"{name} is not defined or {name} is none", f"set _n_{name} = {var.number!r}"),
                            (f"{name} is boolean or {name} is integer or {name} is float", f"set _n_{name} = {name}"),
                            (None, bad + " ~ 'must be a number (an int or a float)'")])
                self.tag(f"set {local} = _n_{name}|string")
                if var.lookup_slot is not None:
                    self.chain([(f"_n_{name} <= {bound!r}", f"set _v_{var.lookup_slot} = {quote(text)}")
                                for bound, text in var.lookup]
                               + [(None, f"set _v_{var.lookup_slot} = {quote(var.lookup[-1][1])}")])
                continue
            if var.is_mapping:
                before, after = var.when_given or ("", "")
                self.tag(f"set {local} = ''")
                with self.block(f"if {name} is defined and {name} is not none"):
                    self.refuse(f"{name} is not mapping", bad + " ~ 'must be a mapping'")
                    with self.block(f"if {name}"):
                        self.tag(f"set {local} = {quote(before)} ~ {name}|tojson ~ {quote(after)}")
                continue
            if var.is_switch:
                default = var.when_true if var.switch_default else var.when_false
                self.chain([(f"{name} is not defined or {name} is none", f"set {local} = {quote(default or '')}"),
                            (f"{name} is true", f"set {local} = {quote(var.when_true or '')}"),
                            (f"{name} is false", f"set {local} = {quote(var.when_false or '')}"),
                            (None, bad + " ~ 'must be True or False'")])
                continue
            if var.required:
                missing = bad + " ~ 'is required by this format'"
            elif var.strftime is not None:
                missing = f"set {local} = strftime_now({quote(var.strftime)})"
            else:
                missing = f"set {local} = {quote(var.default or '')}"
            cases: List[Tuple[Optional[str], str]] = [(f"{name} is not defined or {name} is none", missing)]
            if var.serialiser is not None:
                cases += [(f"{name} is string", quote(f"promptcraft export: a JSON text for variable {name!r} is not "
                                                      "exported (pass a list)")),
                          (f"{name} is sequence and {name} is not mapping",
                           f"set {local} = {name}|tojson(ensure_ascii=true)"),
                          (None, bad + " ~ 'must be JSON text or a list'")]
            else:
                if var.empty_default:
                    cases.append((f"{name} is string and {name} == ''", missing))
                cases += [(f"{name} is string", f"set {local} = {name}"), (None, bad + " ~ 'must be a string'")]
            self.chain(cases)
            if var.nonblank is not None:
                before, after = var.nonblank
                self.tag(f"set {local} = {quote(before)} ~ {local} ~ {quote(after)} if {local}|trim else ''")

    def chain(self, cases: "List[Tuple[Optional[str], str]]") -> None:
        """An if chain whose branches are each one ``set`` statement or, otherwise, a refusal (its text)."""
        for position, (test, action) in enumerate(cases):
            self.tag("else" if test is None else f"{'elif' if position else 'if'} {test}")
            self.depth += 1
            if action.startswith("set "):
                self.tag(action)
            else:
                self.raise_(action)
            self.depth -= 1
        self.tag("endif")

    def tool_use_refused(self) -> None:
        """Given tools, another format renders (before this one reads anything): not exported."""
        if self.tool_use is not None:
            self.refuse("tools is defined and tools is not none", quote(
                f"promptcraft export: tools render with format {self.tool_use!r} (the model's tool_use template), "
                "which is not exported in this template"))

    def inputs(self) -> None:
        """Tools and documents: refused where the format does not write them, not exported where it does."""
        p = self.p
        self.comment("Tool definitions and documents (an empty list is none, as `if tools` reads it).")
        if self.tools is not None:
            self.tools_text(self.tools)
        # Built-in tools' fixed texts ([tools] builtin) are not exported: neither is the layout that writes them.
        what = ("promptcraft export: tool definitions with built-in tools' texts are not exported"
                if len(p.tools.layout) > 9 else
                "promptcraft export: tool definitions written by this serialiser are not exported") \
            if p.tools is not None else \
            f"format {p.name!r} does not write tool definitions, so they are refused rather than left out"
        if p.tools is not None and p.tools.refuse_empty:
            self.refuse("tools is defined and tools is not none and not tools", quote(
                f"format {p.name!r} refuses an empty list of tools: its template writes a broken tools block for it "
                "(pass None for no tools)"))
        if self.tools is not None:
            pass
        elif (p.tools is not None and p.tools.written_empty) or self.empty_tools_refused:
            self.refuse("tools is defined and tools is not none", quote(what))
        else:
            self.refuse("tools is defined and tools", quote(what))
        if p.tools is not None and p.tools.required:
            self.refuse("tools is not defined or tools is none",
                        quote(f"format {p.name!r} needs tools (its template raises without them)"))
        if p.documents is not None:
            self.documents_text(p.documents)
        else:
            self.refuse("documents is defined and documents", quote(
                f"format {p.name!r} does not write documents, so they are refused rather than left out"))

    def documents_text(self, documents: ir.Documents) -> None:
        """``_dt``: the documents' text (``none`` without any), each document checked as
        ``_runtime.documents.write_documents`` checks it."""
        prefix, item, separator, suffix, keys, optional, others, others_key, ignore = documents.layout
        self.comment("The documents' text, as the format writes it.")
        self.tag("set _dt = none")
        with self.block("if documents is defined and documents"):
            self.refuse("documents is string or documents is mapping or documents is not sequence",
                        quote("documents must be a list of mappings"))
            read = [name for name, _ in keys] + [name for name, _ in optional]
            self.tag("set _ns_docs = namespace(text='')")
            with self.block("for _doc in documents"):
                self.tag("set _d = loop.index0")
                where = "'documents[' ~ _d ~ ']"
                self.refuse("_doc is not mapping", where + ": ' ~ " + quote("a document is a mapping ({'text': ...})"))
                values = {"index": "_d|string"}
                for name, kind in keys:
                    value = f"_doc[{quote(name)}]"
                    at = where + f".{name}: ' ~ "
                    self.refuse(f"{value} is not defined or {value} is none", at + quote(
                        f"this format writes every document's {name!r}: this one has none"))
                    if kind == "text":
                        self.refuse(f"{value} is not string", at + quote("this format writes it as text only"))
                    else:
                        self.refuse(f"not ({value} is string or {value} is number or {value} is boolean)", at + quote(
                            "this format writes it as Python's str() writes a string, a number or a boolean"))
                    values[name] = f"{value}|string"
                for name, text in optional:
                    value = f"_doc[{quote(name)}]"
                    self.tag(f"set _o_{name} = ''")
                    with self.block(f"if {value} is defined and {value} is not none"):
                        self.refuse(f"{value} is not string", where + f".{name}: ' ~ " + quote(
                            "this format writes it as text only"))
                        self.tag(f"set _o_{name} = " + self.pieces(text, {"value": value}))
                    values[name] = f"_o_{name}"
                if ("json",) in item:
                    values["json"] = "_doc|tojson"
                elif others is not None:
                    self.tag("set _ns_others = namespace(text='')")
                    with self.block("for _key, _value in _doc.items()"):
                        with self.block(f"if _key not in {_tuple(read) if read else '()'}"):
                            self.refuse("_key is not string", where + ": ' ~ " + quote(
                                "a document's key must be a string"))
                            self.refuse("not (_value is string or _value is number or _value is boolean)",
                                        where + ".' ~ _key ~ ': ' ~ " + quote(
                                            "this format writes it as Python's str() writes a string, a number or "
                                            "a boolean"))
                            key = "_key|title" if others_key == "title" else "_key"
                            self.tag("set _ns_others.text = _ns_others.text ~ " + self.pieces(
                                others, {"key": key, "value": "_value|string"}))
                    values["others"] = "_ns_others.text"
                else:
                    allowed = tuple(read) + tuple(ignore)
                    with self.block("for _key, _value in _doc.items()"):
                        self.refuse(f"_value is not none and _key not in {_tuple(allowed) if allowed else '()'}",
                                    where + ".' ~ _key|string ~ ': ' ~ " + quote(
                                        "this key is not written by the format, so it is refused rather than left "
                                        "out"))
                if separator:
                    with self.block("if not loop.first"):
                        self.tag(f"set _ns_docs.text = _ns_docs.text ~ {quote(separator)}")
                self.tag("set _ns_docs.text = _ns_docs.text ~ " + self.pieces(item, values))
            self.tag(f"set _dt = {quote(prefix)} ~ _ns_docs.text ~ {quote(suffix)}")

    @staticmethod
    def pieces(pieces: Sequence[object], values: Dict[str, str]) -> str:
        """A documents text (literals and ``(name,)`` slots) as one Jinja expression."""
        out = [quote(piece) if isinstance(piece, str) else f"({values[piece[0]]})"  # type: ignore[index]
               for piece in pieces]
        return " ~ ".join(out) or "''"

    def tools_text(self, tools: ir.Tools) -> None:
        """``_tt``: the tool definitions' text (``none`` without any), each checked as promptcraft checks it."""
        prefix, item_prefix, item_suffix, separator, suffix, indent = tools.layout[:6]
        item = tools.layout[6] if len(tools.layout) > 6 else "json"
        envelope = tools.layout[7] if len(tools.layout) > 7 else "whole"
        dump = "|tojson" if indent < 0 else f"|tojson(indent={indent})"
        if item in _SERIALISERS:
            self.comment(f"The tool definitions' text, as the format writes it: each definition as {item!r} writes "
                         "it.")
            ignore = tools.layout[8] if len(tools.layout) > 8 else ()
            macro = _SERIALISERS[item].replace("__IGNORE__", _tuple(ignore) if ignore else "()")
            for text in [t for t in (_TYPE_MACRO, _TEXT_MACRO) if t.split("(")[0].split()[-1] in macro] + [macro]:
                for line in text.strip("\n").splitlines():
                    self.line(line)
        else:
            self.comment("The tool definitions' text, as the format writes it: each definition through tojson.")
        self.tag("set _tt = none")
        with self.block("if tools is defined and tools is not none" if tools.written_empty
                        else "if tools is defined and tools"):
            self.refuse("tools is string or tools is mapping or tools is not sequence",
                        quote("tools must be a list of tool definitions"))
            with self.block("for _tool in tools"):
                where = "'tools[' ~ loop.index0 ~ ']' ~ "
                self.refuse("_tool is not mapping", where + quote(": a tool definition is a mapping"))
                self.tag("set _function = _tool.function if _tool.function is defined else _tool")
                self.refuse("_function is not mapping", where + quote(".function: 'function' must be a mapping"))
                self.refuse("_function.name is not string or _function.name == ''",
                            where + quote(": a tool needs a 'name' string"))
                if envelope == "by_type":
                    self.refuse("_tool.type is defined and _tool.type is not none and _tool.type != 'function'",
                                where + quote(".type: this format writes tools of type 'function' only"))
                    self.refuse("_tool.type is defined and _tool.type is not none and (_tool.function is not "
                                "defined or _tool.function is none)",
                                where + quote(".function: a tool of type 'function' needs its 'function' object"))
            if item == "json_array":
                self.tag(f"set _tt = {quote(prefix)} ~ tools{dump} ~ {quote(suffix)}")
                return
            entry = {"whole": "_tool", "function": "(_tool.function if _tool.function is defined else _tool)",
                     "by_type": "(_tool.function if _tool.type is defined and _tool.type is not none else _tool)"
                     }[envelope]
            self.tag("set _ns_tools = namespace(text='')")
            with self.block("for _tool in tools"):
                if separator:
                    with self.block("if not loop.first"):
                        self.tag(f"set _ns_tools.text = _ns_tools.text ~ {quote(separator)}")
                written = f"_pc_item({entry}, 'tools[' ~ loop.index0 ~ ']')" if item in _SERIALISERS else \
                    f"{entry}{dump}"
                self.tag(f"set _ns_tools.text = _ns_tools.text ~ {quote(item_prefix)} ~ {written} ~ "
                         f"{quote(item_suffix)}")
            self.tag(f"set _tt = {quote(prefix)} ~ _ns_tools.text ~ {quote(suffix)}")

    def join_tools(self, text: str) -> None:
        """``_system`` as the text ``text`` (``none``: no system text) and the tools' text (when given),
        the join between them where there is a text (``join_when = "text"``: one that is not empty)."""
        tools = self.tools
        assert tools is not None
        joined = f"{text} ~ {quote(tools.join)} ~ _tt" if tools.placement == "system_after" else \
            f"_tt ~ {quote(tools.join)} ~ {text}"
        alone = f"{text} is none" + (f" or {text} == ''" if tools.join_when == "text" else "")
        self.tag(f"set _system = (_tt if {alone} else {joined}) if _tt is not none else {text}")

    def checks(self) -> None:
        """Every message checked first, as promptcraft checks a conversation before writing any of it."""
        p = self.p
        self.comment("Each message: a text role and content, and no field the format does not write "
                     "(transformers has dropped the keys whose value is None).")
        self.refuse("messages|length == 0", quote("the conversation is empty: give at least one message"))
        fields = p.fields
        if self.caller is not None:
            # Whether a message before had calls; every call's id, in order (results are numbered by them).
            self.tag("set _ns_chk = namespace(ec=false, ids=[], at=[])")
        if self.takes_parts:
            # The text of each message, its media parts counted across the conversation for their labels.
            counts = sorted({kind[0] for kind in self.part_kinds() if kind[0] != "text"})
            self.tag("set _ns_parts = namespace(" + ", ".join(
                ["messages=[]", "plain=[]", "lists=[]", "image=false"] + [f"n_{kind}=0" for kind in counts]) + ")")
            labels = self.p.labels
            if labels is not None:
                name, default = labels
                self.tag(f"set _labels = {name} if {name} is defined and {name} is not none and {name} is boolean "
                         f"else {'true' if default else 'false'}")
        with self.block("for _m in messages"):
            self.tag("set _i = loop.index0")
            self.refuse("_m is not mapping or _m.role is not string",
                        "'messages[' ~ _i ~ ']: expected a mapping with a text role'")
            with self.block("for _key in _m"):
                self.refuse(f"_m[_key] is not none and _key not in {_tuple(fields)}",
                            "'messages[' ~ _i ~ '].' ~ _key ~ ' (role ' ~ _m.role ~ '): ' ~ "
                            + quote(f"format {p.name!r} does not write this field, so it is refused rather than "
                                    "left out"))
            if p.refuse_names:
                self.check_name()
            if p.message_tools is not None:
                self.refuse("_m.tools is defined and _m.tools is not none",
                            self.where("promptcraft export: tool definitions in a message are not exported", "tools"))
            for reader in self.roles:
                if reader.given_field is not None:
                    own = f"_m[{quote(reader.given_field)}]"
                    self.refuse(f"{own} is defined and {own} is not none and _m.role != {quote(reader.name or '')}",
                                self.where(f"format {p.name!r} does not write this field, so it is refused rather "
                                           "than left out", reader.given_field))
            for field in dict.fromkeys(r.attach_field for r in self.roles if r.attach_field):
                self.refuse(f"_m[{quote(field)}] is defined and _m[{quote(field)}] is not none",
                            self.where("promptcraft export: this field is not exported", field))
            given = "_m.content"
            rules = self.caller.calls if self.caller is not None else None
            if rules is not None:
                given = "_given"
                self.tag("set _given = _m.content if _m.content is defined else none")
                if rules.content_optional or rules.content_first:
                    assert self.caller is not None
                    with self.block(f"if _given is none and {self.content_optional(self.caller)}"):
                        self.comment("a message with calls may leave its content out")
                        self.tag("set _given = ''")
            self.refuse(f"{given} is not defined or {given} is none", self.where("has no content", "content"))
            if self.takes_parts:
                self.tag(f"set _text = {given}")
                self.tag("set _plain = _text")
                with self.block(f"if {given} is not string"):
                    self.content_parts(given)
            else:
                self.refuse(f"{given} is not string", self.where(
                    f"format {p.name!r} writes this content as text only; a list of parts is refused", "content"))
            if self.caller is not None:
                self.check_calls(self.caller)
                if self.parts is not None and not self.parts.with_calls:
                    self.refuse(f"_tc is not none and {given} is not string", self.where(
                        f"format {p.name!r} writes the content of a message with calls as text only: its template "
                        "writes a list of parts as it is", "content"))
            if self.takes_parts:
                self.tag("set _ns_parts.messages = _ns_parts.messages + [dict(_m, content=_text)]")
                self.tag("set _ns_parts.plain = _ns_parts.plain + [_plain]")
                self.tag(f"set _ns_parts.lists = _ns_parts.lists + [{given} is not string]")
        if self.takes_parts:
            self.comment("From here on each message's content is its text (a list of parts joined).")
            self.tag("set messages = _ns_parts.messages")
        self.tag("set _last = messages|length - 1")

    def names_written(self) -> str:
        """The test of a message whose role writes its ``name`` (``_runtime.messages.writes_name``)."""
        declared = [r.name or "" for r in self.p.roles]
        writers = [r.name or "" for r in self.p.roles if r.action == "write" and r.writes_name]
        tests = [_is_in("_m.role", writers)] if writers else []
        other = self.p.any_role
        if other is not None and other.action == "write" and other.writes_name:
            tests.append(f"not ({_is_in('_m.role', declared)})" if declared else "true")
        return "(" + " or ".join(tests) + ")" if tests else "false"

    def check_name(self) -> None:
        """A message's ``name``: written as text by the roles that write names; refused on the others,
        and on a system message taken out of the conversation, whose text has none."""
        p, system = self.p, self.p.system
        with self.block("if _m.name is defined and _m.name is not none"):
            self.refuse(f"not {self.names_written()}", self.where(
                f"format {p.name!r} does not write this field, so it is refused rather than left out", "name"))
            self.refuse("_m.name is not string", self.where(f"format {p.name!r} writes a name as text only", "name"))
            if system.placement not in ("message", "refuse"):
                taken = _is_in("_m.role", self.leading)
                if not self.hoist:
                    taken += " and _i == 0" + (" and _m.content != ''" if system.keep_empty else "")
                self.refuse(taken, self.where(
                    f"format {p.name!r} writes a name for messages of this role, but not for a system message it "
                    "takes out of the conversation", "name"))

    def part_kinds(self) -> List[Tuple[Any, ...]]:
        forms = [f for f in (self.parts.form if self.parts is not None else None, self.p.system.parts_form) if f]
        return [kind for form in forms for kind in cast(Tuple[Tuple[Any, ...], ...], form[1])]

    def content_parts(self, given: str) -> None:
        """``_text`` (and ``_plain``, without labels): a message's list of parts as the format writes it,
        checked as ``_runtime.parts`` checks it; refused where the role (or the system message taken
        out) takes text only."""
        p, system = self.p, self.p.system
        self.refuse(f"{given} is mapping or {given} is not sequence", self.where(
            "'content' must be a string or a list of parts", "content"))
        taken = "false" if system.placement in ("message", "refuse") else \
            _is_in("_m.role", self.leading) + ("" if self.hoist else " and _i == 0")
        part_roles = _is_in("_m.role", self.part_roles) if self.part_roles else "false"
        self.tag(f"set _mode = {quote(system.parts)} if {taken} else ('parts' if {part_roles} else 'refuse')")
        with self.block("if _mode == 'refuse'"):
            taken_in = f" (it takes parts for {', '.join(map(repr, self.part_roles))})" if self.part_roles else ""
            self.tag(f"if {taken}")
            self.depth += 1
            self.raise_(self.where(f"format {p.name!r} writes this system message's content as text only; a list of "
                                   "parts is refused", "content"))
            self.depth -= 1
            self.tag("endif")
            self.raise_(self.where(f"format {p.name!r} writes this role's content as text only; a list of parts is "
                                   "refused" + taken_in, "content"))
        if system.parts in ("first_text", "first_text_list"):
            with self.block("if _mode != 'parts' and _mode != 'text'"):
                self.refuse(f"{given}|length != 1", self.where("this message is read as its first part's text: a "
                                                               "list of several parts is refused (write one text "
                                                               "part)", "content"))
                self.parts_loop(given, ("none", (("text", ("text",), (), "", None),)), False)
        if self.parts is not None:
            with self.block("if _mode == 'parts'"):
                self.parts_loop(given, self.parts.form, True)
        if system.parts == "text":
            assert system.parts_form is not None
            with self.block("if _mode == 'text'"):
                self.parts_loop(given, system.parts_form, False)

    def parts_loop(self, given: str, form: Tuple[object, ...], counted: bool) -> None:
        """``_text`` and ``_plain`` of the parts ``given``: each of the first kind of ``form`` it is."""
        trim, kinds = form
        assert isinstance(trim, str) and isinstance(kinds, tuple)
        self.tag("set _ns_text = namespace(text='', plain='')")
        with self.block(f"for _part in {given}"):
            self.tag("set _j = loop.index0")
            where = "'messages[' ~ _i ~ '].content[' ~ _j ~ ']"
            at = where + " (role ' ~ _m.role ~ '): ' ~ "
            self.refuse("_part is not mapping", at + quote("a content part must be a mapping"))
            self.tag("set _type = _part['type'] if 'type' in _part else none")
            keyword = "if"
            for kind in kinds:
                name, types, keys, placeholder, label = kind
                tests = ([f"_type in {_tuple(types)}"] if types else []) + [f"{quote(k)} in _part" for k in keys]
                self.tag(f"{keyword} {' or '.join(tests) or 'false'}")
                keyword = "elif"
                self.depth += 1
                self.refuse(f"_type is not none and _type not in {_tuple(types + keys)}",
                            where + ".type (role ' ~ _m.role ~ '): ' ~ " + quote(
                                f"this part is read as {name} (by its keys), but its type is ") + " ~ _type|string")
                allowed = {"image": ("type", "image", "image_url", "url", "path", "base64"),
                           "video": ("type", "video", "url", "path", "base64"), "text": ("type", "text")}[name]
                with self.block("for _key, _value in _part.items()"):
                    self.refuse(f"_value is not none and _key not in {_tuple(tuple(dict.fromkeys(allowed + keys)))}",
                                where + ".' ~ _key ~ ' (role ' ~ _m.role ~ '): ' ~ " + quote(
                                    f"this field of a {name} part is not written by the format, so it is refused "
                                    "rather than left out"))
                if name == "text":
                    self.refuse("_part['text'] is not defined or _part['text'] is not string",
                                where + ".text (role ' ~ _m.role ~ '): ' ~ " + quote(
                                    "a text part's 'text' must be a string"))
                    self.tag(f"set _ns_text.text = _ns_text.text ~ _part['text']{_TRIM[trim]}")
                    self.tag(f"set _ns_text.plain = _ns_text.plain ~ _part['text']{_TRIM[trim]}")
                else:
                    if counted and name == "image":
                        self.tag("set _ns_parts.image = true")
                    if counted and label is not None and self.p.labels is not None:
                        with self.block("if _labels"):
                            self.tag(f"set _ns_parts.n_{name} = _ns_parts.n_{name} + 1")
                            pieces = [quote(piece) if isinstance(piece, str) else f"_ns_parts.n_{name}|string"
                                      for piece in label]
                            self.tag("set _ns_text.text = _ns_text.text ~ " + (" ~ ".join(pieces) or "''"))
                    self.tag(f"set _ns_text.text = _ns_text.text ~ {quote(placeholder)}")
                    self.tag(f"set _ns_text.plain = _ns_text.plain ~ {quote(placeholder)}")
                self.depth -= 1
            self.tag("else")
            self.depth += 1
            written = " and ".join(kind[0] for kind in kinds)
            self.raise_(where + ".type (role ' ~ _m.role ~ '): ' ~ " + quote("a part of type ") + " ~ _type|string ~ "
                        + quote(f" is not written by this format, which writes {written} parts here"))
            self.depth -= 1
            self.tag("endif")
        self.tag("set _text = _ns_text.text")
        self.tag("set _plain = _ns_text.plain")

    def content_optional(self, role: ir.Role) -> str:
        """The test of a message with calls that may leave its content out (``Calls.content_optional``,
        ``content_first`` after the first message with calls)."""
        calls = role.calls
        assert calls is not None
        cases = ["true"] if calls.content_optional is True else ["_i == messages|length - 1"] \
            if calls.content_optional == "final" else []
        if calls.content_first:
            cases.append("_ns_chk.ec")
        test = cases[0] if len(cases) == 1 else "(" + " or ".join(cases) + ")"
        return f"_m.role == {quote(role.name or '')} and _m.tool_calls is defined and _m.tool_calls and {test}"

    def check_calls(self, role: ir.Role) -> None:
        """A message's ``tool_calls`` checked as promptcraft checks them: only on the role that writes
        them, a list of calls of the shape the format reads, arguments of the form it writes."""
        calls = role.calls
        assert calls is not None and role.name is not None
        p = self.p
        self.comment("Tool calls: on the role that writes them, each checked as promptcraft checks it.")
        self.tag("set _tc = _m.tool_calls if _m.tool_calls is defined else none")
        with self.block(f"if _tc is not none and {_EMPTY_LIST.format('_tc')}"):
            if calls.empty_refused:
                self.raise_(self.where(f"format {p.name!r} refuses an empty 'tool_calls' list: give none for a "
                                       "message without calls", "tool_calls"))
            else:
                self.tag("set _tc = none")
        with self.block("if _tc is not none"):
            self.refuse(f"_m.role != {quote(role.name)}", self.where(
                f"format {p.name!r} writes tool calls for role {role.name!r} only, so they are refused rather than "
                "left out", "tool_calls"))
            self.refuse("_tc is string or _tc is mapping or _tc is not sequence",
                        self.where("'tool_calls' must be a list of calls", "tool_calls"))
            id_form = calls.extra[1] if calls.extra is not None else ""
            ignore = calls.ignore + (("type",) if calls.typed else ()) + (("id",) if id_form else ())
            with self.block("for _call in _tc"):
                at = "'messages[' ~ _i ~ '].tool_calls[' ~ loop.index0 ~ ']"
                where = at + " (role ' ~ _m.role ~ '): ' ~ "
                self.refuse("_call is not mapping", where + quote("a call is a mapping"))
                self.tag("set _nested = _call.function is defined and _call.function is not none")
                with self.block("for _key, _value in _call.items()"):
                    allowed = _tuple(("function",) + ignore)
                    flat = _tuple(("name", "arguments") + ignore)
                    self.refuse(f"_value is not none and _key not in ({allowed} if _nested else {flat})",
                                at + ".' ~ _key ~ ' (role ' ~ _m.role ~ '): ' ~ " + quote(
                                    "this field of a call is not written by the format, so it is refused rather "
                                    "than left out"))
                if calls.nested:
                    self.refuse("not _nested", where + quote(
                        "this format reads each call's 'function' object ({'type': 'function', 'function': "
                        "{'name': ..., 'arguments': ...}})"))
                with self.block("if _nested"):
                    self.refuse("_call.function is not mapping", where + quote("a call's 'function' is a mapping"))
                    with self.block("for _key, _value in _call.function.items()"):
                        self.refuse("_value is not none and _key not in ('name', 'arguments')",
                                    at + ".function.' ~ _key ~ ' (role ' ~ _m.role ~ '): ' ~ " + quote(
                                        "this field of a call is not written by the format, so it is refused "
                                        "rather than left out"))
                self.tag("set _fn = _call.function if _nested else _call")
                self.refuse("_fn.name is not defined or _fn.name is not string",
                            where + quote("a call needs a 'name' string"))
                self.refuse("_fn.arguments is not defined or _fn.arguments is none",
                            where + quote("a call needs 'arguments' (a mapping, {} for none)"))
                self.check_arguments(calls.form[0], where)
                if id_form:
                    self.check_call_id(id_form, at + ".id (role ' ~ _m.role ~ '): ' ~ ")
                if calls.typed:
                    self.refuse("_call.type is not defined or _call.type is not string", where + quote(
                        "this format writes each call's 'type' ('function')"))
            if calls.max:
                self.refuse(f"_tc|length > {calls.max}", self.where(
                    f"format {p.name!r} writes at most {calls.max} tool call(s) per message", "tool_calls"))
            if calls.refuse_content_starting is not None:
                self.refuse(f"_given.startswith({quote(calls.refuse_content_starting)})", self.where(
                    f"format {p.name!r} leaves out the content of a message with tool calls when it starts with "
                    f"{calls.refuse_content_starting!r}, as its template does: it is refused", "content"))
            if calls.content_refused:
                self.refuse("_given != ''", self.where(
                    f"format {p.name!r} writes a message's tool calls in place of its content, so a content "
                    "besides them would be left out: it is refused", "content"))
            if calls.content_first:
                self.refuse("_ns_chk.ec and _given != ''", self.where(
                    f"format {p.name!r} writes the content of the conversation's first message with calls only, "
                    "so a content here would be left out: it is refused", "content"))
            self.tag("set _ns_chk.ec = true")
        if any(_uses((r.body,), "call_number") for r in self.roles):
            with self.block("if _m.tool_calls is defined and _m.tool_calls is sequence and _m.tool_calls is not "
                            "string and _m.tool_calls is not mapping"):
                with self.block("for _call in _m.tool_calls"):
                    self.tag("set _ns_chk.ids = _ns_chk.ids + [_call.id if _call is mapping and _call.id is defined "
                             "and _call.id is string else none]")
                    self.tag("set _ns_chk.at = _ns_chk.at + [_i]")

    def check_call_id(self, form: str, where: str) -> None:
        """A call's id (``_call['id']``) checked as ``_runtime.tools.id_text`` checks it: required, and
        of the form the format writes it in."""
        value = "_call['id']"
        self.refuse(f"{value} is not defined", where + quote("the template needs 'id' (it raises without it)"))
        if form == "json":
            # A string, an integer or null is written by tojson as promptcraft writes it; other values are
            # not exported rather than compared.
            self.refuse(f"{value} is not none and {value} is not string and {value} is not integer", where + quote(
                "promptcraft export: a call id other than a string, an integer or null is not exported"))
            return
        self.refuse(f"{value} is not string", where + quote("must be a string (the template splices it into its "
                                                            "text)"))
        if form == "string9":
            self.refuse(f"{value}|length != 9", where + quote(
                "an id must be a string of 9 characters, as the template requires (it raises otherwise)"))
        self.refuse(f"({value}|tojson) != ('\"' ~ {value} ~ '\"')", where + quote(
            "the template writes the id between quotes unescaped: with a quote, a backslash or a control character "
            "it is not JSON, so it is refused"))

    def check_arguments(self, mode: str, where: str) -> None:
        """A call's arguments (``_fn.arguments``) checked for the form the format writes them in."""
        arguments = "_fn.arguments"
        field = where.replace("' (role", ".arguments (role", 1)
        if mode in ("parameters", "json_block"):
            self.refuse(f"{arguments} is not mapping", field + quote("arguments must be a mapping"))
            if mode == "parameters":
                with self.block(f"for _key in {arguments}"):
                    self.refuse("_key is not string", field + quote("an argument's name must be a string"))
            else:
                self.refuse(" or ".join(f"{quote(mark)} in {arguments}|tojson" for mark in _LINE_BREAKS),
                            field + quote("a value holds a line separator (U+2028, U+2029 or U+0085), at which the "
                                          "template's |indent breaks the JSON"))
        elif mode == "text":
            self.refuse(f"{arguments} is not string", field + quote(
                "arguments must be a JSON string: this format's template writes them into the text as they are"))
        elif mode == "json":
            self.refuse(f"{arguments} is string", field + quote(
                "arguments given as a JSON string are refused: this format's template writes them with tojson, "
                "which would encode the string a second time; pass a mapping (json.loads it)"))
            self.refuse(f"{arguments} is not mapping", field + quote("arguments must be a mapping"))


    def thinking(self) -> None:
        rules = self.p.thinking
        if rules is None:
            return
        self.comment("The thinking mode: the switch (or its default), then the flags of the messages read.")
        variable = next((v for v in self.p.variables if v.name == rules.variable), None)
        if variable is None:
            self.tag(f"set _ns_thinking = namespace(on={'true' if rules.default else 'false'})")
        else:
            default = "true" if variable.switch_default else "false"
            self.tag(f"set _ns_thinking = namespace(on={variable.name} if {variable.name} is defined and "
                     f"{variable.name} is not none else {default})")
        source = "messages[:1]" if rules.first_only else "messages"
        with self.block(f"for _m in {source}"):
            with self.block(f"if {_is_in('_m.role', rules.roles)}"):
                keyword = "if"
                for flag, value in rules.flags:
                    self.tag(f"{keyword} {quote(flag)} in _m.content")
                    self.depth += 1
                    self.tag(f"set _ns_thinking.on = {'true' if value else 'false'}")
                    self.depth -= 1
                    keyword = "elif"
                self.tag("endif")

    def request_facts(self) -> Dict[str, str]:
        facts: Dict[str, str] = {"gen": "add_generation_prompt", "first_role": "messages[0].role",
                                 "prev_message": "messages[-1].role"}
        facts.update({k: "false" for k in self.static})
        if self.tools is not None:
            facts["tools"] = "_tt is not none"
        if self.p.thinking is not None:
            facts["thinking"] = "_ns_thinking.on"
        if self.p.documents is not None:
            facts["documents"] = "_dt is not none"
        facts.setdefault("named", "false")
        return facts

    def start(self) -> None:
        start = self.p.start
        if any(case.seq for case in start.cases):
            self.comment("The start of the prompt.")
            self.seq(specialize((start,), self.static), self.values, self.request_facts())
        if self.tools is not None and self.tools.placement == "start":
            with self.block("if _tt is not none"):
                self.out("_tt")

    # -- the leading system message -------------------------------------------
    def system_section(self) -> None:
        system, placement = self.p.system, self.p.system.placement
        leading = _is_in("messages[0].role", self.leading)
        if placement == "refuse":
            self.comment("The format takes no system message.")
            self.refuse(leading, "'messages[0] (role ' ~ messages[0].role ~ '): ' ~ "
                        + quote(f"format {self.p.name!r} refuses a system message"))
            self.tag("set _offset = 0")
            return
        if placement == "hoist":
            self.hoisted()
            return
        if placement == "message":
            self.tag("set _offset = 0")
            alone = " and _tt is none" if self.tools_in_system else ""
            applies = {"first_not_system": f"not ({leading})", "tools": "false",
                       "no_system": f"messages|selectattr('role', 'in', {_tuple(self.leading)})|list|length == 0"}
            if system.default is not None and system.default_when not in applies:
                raise NotExported(f"a default system message written {system.default_when!r}")
            if system.default is not None and system.default_when != "tools":
                self.comment("Without a system message of its own, the conversation gets the default one.")
                with self.block(f"if {applies[system.default_when]}{alone}"):
                    self.default_message()
            if self.tools_in_system:
                self.comment("Without a system message of its own, the tools get one.")
                with self.block(f"if _tt is not none and not ({leading})"):
                    text = "none"
                    if system.default is not None:
                        given = "true" if system.default_when != "no_system" else applies["no_system"]
                        text = f"({self.concat(system.default)} if {given} else none)"
                    self.join_tools(text)
                    self.default_message("_system")
            self.tools_turn()
            return
        # block, fold_first, fold_last: a leading system message is taken out of the loop.
        self.comment("A leading system message is taken out of the conversation: "
                     + ("written as a block." if placement == "block" else "folded into a user message."))
        self.tag("set _system = none")
        self.tag("set _offset = 0")
        if system.override is not None:
            self.tag("set _override = false")
        test = leading + (" and messages[0].content != ''" if system.keep_empty else "")
        with self.block(f"if {test}"):
            self.tag("set _offset = 1")
            if system.refuse_alone:
                self.refuse("messages|length == 1", quote(f"format {self.p.name!r} needs a message after the system "
                                                          "message"))
            self.tag("set _system = messages[0].content")
            if system.parts == "first_text_list":
                self.refuse("_system is string", "'messages[0] (role ' ~ messages[0].role ~ '): ' ~ " + quote(
                    f"format {self.p.name!r} refuses this system message: it must be a list of parts"))
            if system.skip_empty:
                self.tag("if _system == ''")
                self.depth += 1
                self.tag("set _system = none")
                self.depth -= 1
                self.tag("else")
                self.depth += 1
                self.given_system()
                self.depth -= 1
                self.tag("endif")
            else:
                self.given_system()
        if system.default is not None:
            if system.default_when == "no_system":
                missing = f"not ({leading}) and messages|selectattr('role', 'in', {_tuple(self.leading)})|list|" \
                          "length == 0"
                if system.keep_empty:
                    missing = f"({leading} and messages[0].content == '') or ({missing})"
            else:
                missing = f"not ({leading})" + (" or messages[0].content == ''" if system.keep_empty else "")
            if system.default_when == "tools":
                missing = f"({missing}) and _tt is not none"
            if system.unless_images is not None and self.takes_parts:
                missing = f"({missing}) and not _ns_parts.image"
            with self.block(f"if {missing}"):
                self.comment("No system message: the format's default text.")
                self.tag(f"set _system = {self.concat(system.default)}")
        if self.tools_in_system and placement != "block":
            raise NotExported(f"tools with the system placement {placement!r}")
        if self.tools_in_system:
            if system.override is not None:
                self.refuse("_override and _tt is not none", quote(
                    f"format {self.p.name!r} writes no tool definitions with a system text holding "
                    f"{system.override!r}, so they are refused rather than left out"))
            self.join_tools("_system")
        if placement == "block":
            with self.block("if _system is not none"):
                if system.override is not None:
                    self.tag("if _override")
                    self.depth += 1
                    self.seq(system.override_block, dict(self.values, system="_system"), self.request_facts())
                    self.depth -= 1
                    self.tag("else")
                    self.depth += 1
                    self.system_block()
                    self.depth -= 1
                    self.tag("endif")
                else:
                    self.system_block()
        elif placement == "fold_first":
            self.tag("set _target = _offset if _system is not none and messages|length > _offset else -1")
        else:
            self.tag("set _target = _last if _system is not none and messages|length > _offset and "
                     "messages[-1].role == 'user' else -1")
        self.tools_turn()

    def tools_turn(self) -> None:
        if self.tools is not None and self.tools.placement == "turn_after_system":
            with self.block("if _tt is not none"):
                self.out("_tt")

    def given_system(self) -> None:
        """``_system``: the caller's text, its strings taken out, trimmed, wrapped (or the default where empty)."""
        system = self.p.system
        self.refuse("_system is not string", quote("a system message's content must be text"))
        if system.remove:
            self.tag("set _system = _system" + "".join(f".replace({quote(t)}, '')" for t in system.remove))
        if system.trim != "none":
            self.tag(f"set _system = _system{_TRIM[system.trim]}")
        if system.override is not None:
            self.comment("A system text holding the override marker is written in a block of its own.")
            self.tag(f"if {quote(system.override)} in messages[0].content")
            self.depth += 1
            self.tag(f"set _system = _system.replace({quote(system.override)}, ''){_TRIM[system.trim]}")
            self.tag("set _override = true")
            self.depth -= 1
            self.tag("else")
            self.depth += 1
            self.given_text()
            self.depth -= 1
            self.tag("endif")
            return
        self.given_text()

    def given_text(self) -> None:
        system = self.p.system
        if system.default_when == "no_text":
            assert system.default is not None
            self.tag("if _system == ''")
            self.depth += 1
            self.tag(f"set _system = {self.concat(system.default)}")
            self.depth -= 1
            if system.wrap is not None:
                self.tag("else")
                self.depth += 1
                self.tag(f"set _system = {self.concat(system.wrap, {'system': '_system'})}")
                self.depth -= 1
            self.tag("endif")
            return
        if system.wrap is not None:
            self.tag(f"set _system = {self.concat(system.wrap, {'system': '_system'})}")

    def concat(self, pieces: ir.Seq, values: Optional[Dict[str, str]] = None) -> str:
        """One Jinja string expression for choice-free ``pieces`` (a choice over request facts is decided
        here where the template refuses the input it depends on)."""
        values = dict(self.values, **(values or {}))
        parts = []
        for piece in specialize(pieces, self.static):
            if isinstance(piece, Lit):
                parts.append(quote(piece.text))
            elif isinstance(piece, Slot):
                if piece.name not in values:
                    raise NotExported(f"the value {piece.name!r} in a system text")
                parts.append(values[piece.name])
            else:
                parts.append(self.inline_choice(piece, values))
        return " ~ ".join(parts) or "''"

    def inline_choice(self, choice: Choice, values: Dict[str, str]) -> str:
        facts = self.request_facts()
        out = "''"
        for case in reversed(choice.cases):
            text = self.concat(case.seq, values) if case.seq else "''"
            out = text if case.when.always else f"({text} if {self.condition(case.when, facts)} else {out})"
        return out

    def system_block(self) -> None:
        block = self.p.system.block
        self.seq(specialize(block, self.static), dict(self.values, system="_system"), self.request_facts())

    def default_message(self, text: Optional[str] = None) -> None:
        """The default system message (or ``text``), as the leading role writes it (a literal where it is
        constant)."""
        system = self.p.system
        if system.default_message is not None and text is None:
            self.seq(system.default_message, {}, {})
            return
        assert system.default is not None or text is not None
        name = self.leading[0]
        writer = self.p.role(name)
        assert writer is not None
        self.tag(f"set _content = ({text or self.concat(system.default or ())}){_TRIM[writer.trim]}")
        pieces = specialize((writer.body,), dict(self.static, prev_role=None, first=False, final=False,
                                                 earlier=frozenset(), prev_message=None, opening=False))
        facts = dict(self.request_facts(), empty="_content == ''", given_empty="_content == ''",
                     next_role="messages[0].role")
        if text is not None:
            pieces = specialize(pieces, {"tools": True})
        values = dict(self.values, role=quote(name), content="_content", tool_call_id="''", call_number="''", **_NONE)
        self.seq(pieces, values, facts)

    def hoisted(self) -> None:
        system = self.p.system
        self.comment("Every system message is taken out of the conversation and written, joined, in one block.")
        self.tag("set _offset = 0")
        leading = _tuple(self.leading)
        self.tag(f"set _found = messages|selectattr('role', 'in', {leading})|list")
        with self.block("for _m in _found"):
            self.refuse("_m.content is not string", quote("a system message's content must be text"))
        if system.select == "last":
            self.tag("set _found = _found[-1:]")
        self.tag("set _ns_system = namespace(text='')")
        with self.block("for _m in _found"):
            with self.block("if not loop.first"):
                self.tag(f"set _ns_system.text = _ns_system.text ~ {quote(system.join)}")
            item = system.item_prefix + (Slot("system"),) + system.item_suffix
            self.tag(f"set _ns_system.text = _ns_system.text ~ "
                     f"{self.concat(item, {'system': '_m.content' + _TRIM[system.trim]})}")
        text = "_ns_system.text"
        if self.tools_in_system:
            self.join_tools("(_ns_system.text if _found else none)")
            self.tag("set _system = '' if _system is none else _system")
            text = "_system"
        block = system.block
        self.seq(specialize(block, self.static), dict(self.values, system=text), self.request_facts())
        self.tools_turn()

    # -- the messages -------------------------------------------------------
    def loop(self) -> None:
        p = self.p
        self.comment("The messages.")
        self.tag("set _ns = namespace(" + ", ".join(
            ["prev=none", "user_turn=true", "body=false"] + [f"{flag}=false" for flag in self.earlier.values()] + (
                ["ec=false", "nk=" + self.first_number(), "cname=none", "answered=[]"] if self.caller is not None
                else [])) + ")")
        if self.tools is not None and self.tools.placement == "first_user":
            self.refuse("_tt is not none and (messages|length == _offset or messages[_offset].role != 'user')",
                        quote(f"format {p.name!r} writes the tools in the first user message after the system "
                              "message, and there is none"))
        if self.tools is not None and self.tools.placement == "last_user":
            self.last_user()
        docs = self.p.documents.placement if self.p.documents is not None else None
        if docs in ("before_last_user", "after_first_user"):
            self.documents_at(docs)
        with self.block("for _m in messages[_offset:]"):
            self.tag("set _i = loop.index0 + _offset")
            if docs == "before_last_user":
                with self.block("if _i == _docs_at"):
                    self.out("_dt")
                    if self.p.documents.counts_as_call and self.caller is not None:  # type: ignore[union-attr]
                        self.tag("set _ns.nk = _ns.nk + 1")
            if self.hoist:
                with self.block(f"if {_is_in('_m.role', self.leading)}"):
                    self.tag("continue")
                self.tag("set _ns.body = true")
            if p.alternation:
                self.alternation()
            keyword = "if"
            for role in p.roles:
                self.tag(f"{keyword} _m.role == {quote(role.name or '')}")
                self.depth += 1
                self.comment(f"{role.name} messages")
                self.write_role(role)
                self.depth -= 1
                keyword = "elif"
            if p.roles:
                self.tag("else")
                self.depth += 1
            if p.any_role is not None:
                self.comment("messages of any other role")
                self.write_role(p.any_role)
            else:
                declared = ", ".join(repr(r.name) for r in p.roles)
                self.raise_(self.where(f"format {p.name!r} has no such role (it declares {declared})", "role"))
            if p.roles:
                self.depth -= 1
                self.tag("endif")

    def first_number(self) -> str:
        """The number of the conversation's first call: 1 after documents written before the messages
        that take number 0 (``[documents] counts_as_call``)."""
        documents = self.p.documents
        if documents is not None and documents.counts_as_call and documents.placement == "turn_after_system":
            return "(1 if _dt is not none else 0)"
        return "0"

    def documents_at(self, placement: str) -> None:
        """``_docs_at``: the message the documents go before (the last user message, else the first) or
        after (the first user message); refused without one, where the template would leave them out."""
        self.comment("The message the documents go " + ("before." if placement == "before_last_user" else "after."))
        self.tag("set _ns_at = namespace(at=-1, first=-1)")
        with self.block("if _dt is not none"):
            with self.block("for _m in messages[_offset:]"):
                test = f"not ({_is_in('_m.role', self.leading)})" if self.hoist else "true"
                with self.block(f"if {test}"):
                    self.tag("set _ns_at.first = loop.index0 + _offset if _ns_at.first == -1 else _ns_at.first")
                    last = "true" if placement == "before_last_user" else "_ns_at.at == -1"
                    with self.block(f"if _m.role == 'user' and {last}"):
                        self.tag("set _ns_at.at = loop.index0 + _offset")
            where = "before the last user message" if placement == "before_last_user" else \
                "after the first user message"
            self.refuse("_ns_at.at == -1" + (" and _ns_at.first == -1" if placement == "before_last_user" else ""),
                        quote(f"format {self.p.name!r} writes the documents {where}, and there is none to write "
                              "them at"))
        self.tag("set _docs_at = (_ns_at.at if _ns_at.at != -1 else _ns_at.first) if _dt is not none else -1")

    def last_user(self) -> None:
        """``_lu``: the last user message, before which (and before every one equal to it, as the template
        compares them) the tools go; refused without one, where the template would leave them out."""
        self.comment("The tools go before the last user message and every one equal to it.")
        self.tag("set _lu = none")
        with self.block("if _tt is not none"):
            self.tag("set _users = messages|selectattr('role', 'equalto', 'user')|list")
            self.refuse("not _users", quote(
                f"format {self.p.name!r} writes the tools before the last user message, and there is none: its "
                "template would leave them out, so they are refused"))
            self.tag("set _lu = _users|last")

    def alternation(self) -> None:
        p = self.p
        self.comment("Roles alternate: user, then another role, and so on.")
        skipped = ([_is_in("_m.role", p.alternation_skip_roles)] if p.alternation_skip_roles else []) + (
            ["(_m.tool_calls is defined and _m.tool_calls is not none)"] if p.alternation_skip_calls else [])
        if skipped:
            # Messages the format does not count (Mistral Nemo's tool results and call turns).
            self.tag(f"if not ({' or '.join(skipped)})")
            self.depth += 1
        self.refuse("(_m.role == 'user') != _ns.user_turn",
                    self.where(f"format {p.name!r} expects ") + " ~ ('a user message' if _ns.user_turn else "
                    "'a non-user message') ~ ' here'")
        self.tag("set _ns.user_turn = not _ns.user_turn")
        if skipped:
            self.depth -= 1
            self.tag("endif")

    def write_role(self, role: ir.Role) -> None:
        p = self.p
        if role.action == "refuse":
            self.raise_(self.where(f"format {p.name!r} refuses this role", "role"))
            return
        if role.action == "drop":
            self.comment("left out")
            return
        display = p.display if role.display else None
        if display is not None and (display.before or display.until_answer):
            self.raise_(self.where("promptcraft export: the reasoning display before the message is not exported"))
            return
        calls = role.calls if role is self.caller else None
        static = dict(self.static, calls=False)
        if role.given_reasoning is not None:
            del static["reasoning"]
        if self.caller is not None:
            del static["earlier_calls"]
            if calls is not None:
                del static["calls"]
        body = specialize((role.body,), static)
        if calls is not None:
            self.tag("set _tc = _m.tool_calls if _m.tool_calls is defined and _m.tool_calls else []")
            self.tag("set _content = _m.content if _m.content is defined and _m.content is not none else ''")
        else:
            self.tag("set _content = _m.content")
        if role.content_json:
            self.tag("set _content = _content|tojson")
        for needle in role.refuse_containing:
            self.refuse(f"{quote(needle)} in _content",
                        self.where(f"format {p.name!r} refuses this content: it must not contain {needle!r}",
                                   "content"))
        if role.remove:
            self.tag("set _content = _content" + "".join(f".replace({quote(t)}, '')" for t in role.remove))
        if role.cut is not None:
            self.cut(role.cut, calls is not None)
        tools = self.tools
        if self.tools_in_system and self.p.system.placement == "message" and (role.name in self.leading or (
                role.name is None and self.p.role(self.leading[0]) is self.p.any_role)):
            assert tools is not None
            test = "_i == 0 and _tt is not none" + (f" and {_is_in('_m.role', self.leading)}" if role.name is None
                                                    else "")
            with self.block(f"if {test}"):
                self.comment("the tools join the system message")
                self.join_tools("_content")
                self.tag("set _content = _system")
        uses_tools = "''"
        if role.last_tools and tools is not None:
            self.tag("set _tl = _tt if _tt is not none and _m == _lu else ''")
            uses_tools = "_tl"
        if role.first_tools and tools is not None:
            if self.takes_parts:
                self.refuse("_i == _offset and _tt is not none and _ns_parts.lists[_i]", self.where(
                    f"format {p.name!r} writes the tools in this message, whose content its template takes as "
                    "text: a list of parts is refused", "content"))
            self.tag("set _tu = _tt if _i == _offset and _tt is not none else ''")
            uses_tools = "_tu"
            if tools.trim != "none":
                with self.block("if _i == _offset and _tt is not none"):
                    self.tag(f"set _content = _content{_TRIM[tools.trim]}")
        if calls is not None and calls.trim is not None and calls.trim != role.trim:
            # A message with calls is trimmed otherwise.
            self.tag("if _tc")
            self.depth += 1
            self.fold_and_trim(calls.trim)
            self.depth -= 1
            self.tag("else")
            self.depth += 1
            self.fold_and_trim(role.trim)
            self.depth -= 1
            self.tag("endif")
        else:
            self.fold_and_trim(role.trim)
        facts = dict(self.request_facts(), first="_i == 0", final="_i == _last", empty="_content == ''",
                     given_empty="not _m.content", prev_role="_ns.prev",
                     next_role="(messages[_i + 1].role if _i != _last else none)",
                     prev_message="(messages[_i - 1].role if _i else none)",
                     opening=f"_i == (1 if {_is_in('messages[0].role', self.leading)} else 0)")
        if self.caller is not None:
            facts.update(calls="_tc" if calls is not None else "false", earlier_calls="_ns.ec")
        if p.refuse_names and role.writes_name:
            facts["named"] = "(_m.name is defined and _m.name is not none)"
        if role.given_reasoning is not None:
            self.given_reasoning(role.given_reasoning, role.given_field)
            facts["reasoning"] = "_reasoning != ''"
        if display is not None:
            self.display(display, calls, facts)
        elif calls is not None:
            self.write_calls(calls, facts)
        name = quote(role.name) if role.name is not None else "_m.role"
        values = dict(self.values, role=name, content="_content", tool_call_id=self.call_id(role),
                      **dict(_NONE, tools=uses_tools))
        if p.refuse_names and role.writes_name:
            values["name"] = "_m.name"
        if role.given_reasoning is not None:
            values["reasoning"] = "_reasoning"
        if calls is not None:
            values["calls"] = "_calls"
        if role.names_call:
            self.refuse("_ns.cname is none", self.where(f"format {p.name!r} refuses this message, which names the "
                                                        "previous call: no call precedes it"))
            values["call_name"] = "_ns.cname"
        if _uses((role.body,), "call_number"):
            values["call_number"] = self.call_number()
        if role.given_unwritten:
            self.reasoning_unwritten(role, facts)
        self.seq(body, values, facts)
        documents = p.documents
        if documents is not None and documents.placement == "after_first_user":
            with self.block("if _i == _docs_at"):
                self.out("_dt")
                if documents.counts_as_call and self.caller is not None:
                    self.tag("set _ns.nk = _ns.nk + 1")
        self.tag(f"set _ns.prev = {name}")
        if calls is not None:
            with self.block("if _tc"):
                self.tag("set _ns.ec = true")
                self.tag("set _ns.nk = _ns.nk + _tc|length")
            if self.names_calls:
                self.tag("set _ns.cname = ((_tc|last).function if (_tc|last).function is defined and "
                         "(_tc|last).function is not none else _tc|last).name if _tc else none")
        if role.name is not None:
            if role.name in self.earlier:
                self.tag(f"set _ns.{self.earlier[role.name]} = true")
        else:
            for other, flag in self.earlier.items():
                if all(r.name != other for r in p.roles):
                    with self.block(f"if _m.role == {quote(other)}"):
                        self.tag(f"set _ns.{flag} = true")

    def reasoning_unwritten(self, role: ir.Role, facts: Dict[str, str]) -> None:
        """Reasoning given where the prefix chosen does not write it is refused (``ir.Role.given_unwritten``)."""
        with self.block("if _reasoning != ''"):
            keyword = "if"
            for when, writes in role.given_unwritten:
                self.tag("else" if when.always else f"{keyword} {self.condition(when, facts)}")
                keyword = "elif"
                if not writes:
                    self.depth += 1
                    self.raise_(self.where("the template writes this field in other messages only and leaves it "
                                           "out of this one, so it is refused rather than left out",
                                           role.given_field or "reasoning_content"))
                    self.depth -= 1
                if when.always:
                    break
            self.tag("endif")

    def given_reasoning(self, how: str, own: Optional[str] = None) -> None:
        """``_reasoning``: the reasoning given in the message's field (or the first alias given, as
        transformers aliases them; ``own``: a field it does not alias, alone), text only, trimmed ``how``
        (``''`` for none)."""
        from .._runtime.messages import REASONING_FIELDS

        display = self.p.display
        field = display.field_name if display is not None else REASONING_FIELDS[0]
        order = (own,) if own is not None else (field,) + tuple(n for n in REASONING_FIELDS if n != field)
        self.comment("the reasoning given in its field, written by the role's texts")
        self.tag("set _reasoning = ''")
        keyword = "if"
        for name in order:
            value = f"_m[{quote(name)}]"
            self.tag(f"{keyword} {value} is defined and {value} is not none")
            keyword = "elif"
            self.depth += 1
            self.refuse(f"{value} is not string", self.where(
                f"format {self.p.name!r} writes reasoning given as text only", name))
            self.tag(f"set _reasoning = {value}" + {"both": ".strip()", "newlines": ".strip('\\n')"}.get(how, ""))
            self.depth -= 1
        self.tag("endif")

    def fold_and_trim(self, how: str) -> None:
        """``_content`` trimmed ``how``, and the system text folded into it where this is its message."""
        trim = _TRIM[how]
        if not self.fold:
            if trim:
                self.tag(f"set _content = _content{trim}")
            return
        fold = self.p.system.fold
        assert fold is not None
        self.tag("if _i == _target")
        self.depth += 1
        self.comment("the system text folded into this message")
        after = how if self.p.system.fold_order == "fold_then_trim" else "none"
        if self.p.system.fold_order == "trim_then_fold" and trim:
            self.tag(f"set _content = _content{trim}")
        self.tag(f"set _content = ({self.concat(fold, {'system': '_system', 'content': '_content'})})"
                 f"{_TRIM[after]}")
        self.depth -= 1
        if trim:
            self.tag("else")
            self.depth += 1
            self.tag(f"set _content = _content{trim}")
            self.depth -= 1
        self.tag("endif")

    def write_calls(self, calls: ir.Calls, facts: Dict[str, str]) -> None:
        """``_calls``: the message's calls (``_tc``, checked) as the format writes them, each through the
        first call text whose condition holds; the answer (``_content``) is final here."""
        self.comment("the message's tool calls")
        self.tag("set _calls = ''")
        with self.block("if _tc"):
            if calls.refused is not None:
                self.refuse(self.condition(calls.refused, facts), self.where(
                    f"format {self.p.name!r} writes no tool calls here (its template leaves them out), so they are "
                    "refused rather than left out", "tool_calls"))
            self.tag("set _ns_calls = namespace(text='')")
            with self.block("for _call in _tc"):
                self.tag("set _fn = _call.function if _call.function is defined and _call.function is not none "
                         "else _call")
                self.arguments(calls.form)
                name = "_fn.name|tojson" if calls.extra is not None and calls.extra[0] == "json" else "_fn.name"
                call_id = "(_call['id']|tojson)" if calls.extra is not None and calls.extra[1] == "json" else \
                    "_call['id']"
                keyword = "if"
                for text in calls.texts:
                    tests = ([] if text.first is None else ["loop.first" if text.first else "not loop.first"]) + (
                        [] if text.empty is None else ["_content == ''" if text.empty else "_content != ''"]) + (
                        [] if text.earlier_calls is None else ["_ns.ec" if text.earlier_calls else "not _ns.ec"]) + (
                        [] if text.final is None else ["_i == _last" if text.final else "_i != _last"]) + (
                        [] if text.names is None else [_is_in("_fn.name", text.names)]) + (
                        [] if text.last is None else ["loop.last" if text.last else "not loop.last"])
                    pieces = [quote(piece) if isinstance(piece, str) else
                              (name, "_ca", "loop.index0|string", "_call.type", "(_ns.nk + loop.index0)|string",
                               call_id,
                               "(_fn|tojson)[1:-1]")[piece] for piece in text.text]
                    line = "set _ns_calls.text = _ns_calls.text ~ " + (" ~ ".join(pieces) or "''")
                    if not tests:
                        if keyword == "if":
                            self.tag(line)
                        else:
                            self.tag("else")
                            self.depth += 1
                            self.tag(line)
                            self.depth -= 1
                        break
                    self.tag(f"{keyword} {' and '.join(tests)}")
                    self.depth += 1
                    self.tag(line)
                    self.depth -= 1
                    keyword = "elif"
                if keyword == "elif":
                    self.tag("endif")
            self.tag(f"set _calls = {quote(calls.open)} ~ _ns_calls.text ~ {quote(calls.close)}")

    def arguments(self, form: Tuple[object, ...]) -> None:
        """``_ca``: a call's arguments (``_fn.arguments``, checked) as the format writes them."""
        mode = form[0]
        value = "_fn.arguments"
        if mode == "json":
            self.tag(f"set _ca = {value}|tojson")
        elif mode == "json_or_text":
            self.tag(f"set _ca = {value} if {value} is string else {value}|tojson")
        elif mode == "text":
            self.tag(f"set _ca = {value}")
        elif mode == "json_block":
            # tojson(indent=4)|indent(8): each line after the first indented by 8 more spaces.
            self.tag(f"set _ca = ({value}|tojson(indent=4)).replace('\\n', {quote(chr(10) + ' ' * 8)})")
        elif mode == "parameters":
            parameter, how, separator = form[1], form[2], form[3]
            assert isinstance(parameter, tuple) and isinstance(separator, str)
            written = {"json": "_v|tojson",
                       "str": "(_v if _v is string else _v|string)",
                       "json_or_str": "(_v|tojson if _v is mapping or (_v is sequence and _v is not string) else "
                                      "_v if _v is string else _v|string)"}[str(how)]
            self.tag("set _ns_args = namespace(text='')")
            with self.block(f"for _k, _v in {value}.items()"):
                if separator:
                    with self.block("if not loop.first"):
                        self.tag(f"set _ns_args.text = _ns_args.text ~ {quote(separator)}")
                pieces = [quote(p) if isinstance(p, str) else ("_k", written)[p] for p in parameter]
                self.tag("set _ns_args.text = _ns_args.text ~ " + (" ~ ".join(pieces) or "''"))
            self.tag("set _ca = _ns_args.text")
        else:
            raise NotExported(f"arguments written {mode!r}")

    def call_number(self) -> str:
        """The number of the call this result answers, by its ``tool_call_id``: one call's, answered once."""
        self.tag("set _ci = _m.tool_call_id if _m.tool_call_id is defined else none")
        self.refuse("_ci is not string", self.where(
            f"format {self.p.name!r} writes a result under the number of the call it answers, found by its "
            "tool_call_id: give the id of one of the conversation's calls", "tool_call_id"))
        self.refuse("_ci not in _ns_chk.ids", self.where("no call of the conversation has the id ", "tool_call_id")
                    + " ~ _ci")
        self.refuse("_ci in _ns.answered", self.where("another result answers the call ", "tool_call_id") + " ~ _ci")
        self.tag("set _ns.answered = _ns.answered + [_ci]")
        documents = self.p.documents
        if documents is not None and documents.counts_as_call:
            # The template numbers the calls after the documents one more, their results not.
            at = "_ns_chk.at[_ns_chk.ids.index(_ci)]"
            after = {"turn_after_system": "true", "before_last_user": f"{at} >= _docs_at",
                     "after_first_user": f"{at} > _docs_at"}[documents.placement]
            self.refuse(f"_dt is not none and {after}", self.where(
                f"format {self.p.name!r} writes the documents as a call of their own and numbers the calls after "
                "them one more, but numbers their results without it: the number written for this result would "
                "name another call, so it is refused", "tool_call_id"))
        return "_ns_chk.ids.index(_ci)|string"

    def display(self, display: ir.Display, calls: Optional[ir.Calls] = None,
                facts: Optional[Dict[str, str]] = None) -> None:
        """The reasoning display: after the last query, the reasoning (from its field, or cut out of the
        content at the closing marker) and the answer written through the display's template."""
        close, opening = quote(display.close), quote(display.open)
        strip = {"newlines": ".strip('\\n')", "both": ".strip()", "none": ""}[display.reasoning_trim]
        self.comment("reasoning: given in its field, or cut out of the content")
        self.tag("set _reasoning = ''")
        self.tag("set _present = false")
        if display.field:
            field = quote(display.field_name)
            # transformers copies any of the reasoning fields into the others: this one holds it.
            with self.block(f"if _m[{field}] is defined and _m[{field}] is not none"):
                self.refuse(f"_m[{field}] is not string", self.where(
                    "reasoning is written as text only", display.field_name))
                for needle in display.refuse_containing:
                    self.refuse(f"{quote(needle)} in _m[{field}]", self.where(
                        f"reasoning must not contain {needle!r}", display.field_name))
                self.tag(f"set _present = _m[{field}] != ''")
                self.tag(f"set _reasoning = _m[{field}]{strip}")
                if display.split:
                    self.tag(f"elif {close} in _content")
                    self.depth += 1
                    self.split_reasoning(close, opening, strip)
                    self.depth -= 1
        elif display.split:
            with self.block(f"if {close} in _content"):
                self.split_reasoning(close, opening, strip)
        if calls is not None:
            if calls.content_reasoning:
                raise NotExported("the content of a message with calls written as its reasoning")
            # The calls' conditions read the answer, before the display writes the reasoning into it.
            assert facts is not None
            self.write_calls(calls, facts)
        shown = "_i > _query" if display.always else "_i > _query and (_i == _last or _present)"
        with self.block(f"if {shown}"):
            self.comment("after the last query: the reasoning shown")
            template = dict(self.values, reasoning="_reasoning", content="_content.lstrip('\\n')")
            self.tag(f"set _content = {self.concat(display.template, template)}")

    def split_reasoning(self, close: str, opening: str, strip: str) -> None:
        self.tag(f"set _reasoning = _content.split({close})[0].rstrip('\\n').split({opening})[-1].lstrip('\\n')")
        self.tag("set _present = _reasoning != ''")
        if strip:
            self.tag(f"set _reasoning = _reasoning{strip}")
        self.tag(f"set _content = _content.split({close})[-1].lstrip('\\n')")

    def last_query(self) -> None:
        """``_query``: the index of the last user message that is a query (not a wrapped tool result)."""
        display = self.p.display
        if display is None:
            return
        self.comment("The last user query: reasoning is shown only after it.")
        self.tag("set _ns_query = namespace(at=-1)")
        with self.block("for _m in messages|reverse"):
            test = "_m.role == 'user' and _ns_query.at == -1"
            if display.query_exclude:
                start, end = display.query_exclude
                content = "_ns_parts.plain[messages|length - loop.index]" if self.takes_parts else "_m.content"
                text = f"{content}{_TRIM[display.query_trim]}"
                test += f" and not ({text}.startswith({quote(start)}) and {text}.endswith({quote(end)}))"
            with self.block(f"if {test}"):
                self.tag("set _ns_query.at = messages|length - loop.index")
        if display.refuse_without_query:
            self.refuse("_ns_query.at == -1", quote(f"format {self.p.name!r} needs a user query: no user query "
                                                    "found in messages"))
        self.tag("set _query = _ns_query.at if _ns_query.at != -1 else _last")

    def call_id(self, role: ir.Role) -> str:
        if not _uses((role.body,), "tool_call_id"):
            return "''"
        if role.call_id is not None:
            return self.required_call_id(role.call_id)
        self.tag("set _call_id = _m.tool_call_id if _m.tool_call_id is defined and _m.tool_call_id is not none "
                 "else ''")
        self.refuse("_call_id is not string", self.where("a tool_call_id is written as text only", "tool_call_id"))
        return "_call_id"

    def required_call_id(self, form: str) -> str:
        """``tool_call_id`` required and checked as the role's rule says (``_runtime.tools.id_text``)."""
        field = "tool_call_id"
        self.refuse("_m.tool_call_id is not defined or _m.tool_call_id is none",
                    self.where("the template needs 'tool_call_id' (it raises without it)", field))
        if form == "json":
            # A string or an integer is written by tojson as promptcraft writes it; other values are not
            # exported rather than compared.
            self.refuse("_m.tool_call_id is not string and _m.tool_call_id is not integer",
                        self.where("promptcraft export: a tool_call_id other than a string or an integer is not "
                                   "exported", field))
            return "(_m.tool_call_id|tojson)"
        self.refuse("_m.tool_call_id is not string",
                    self.where("must be a string (the template splices it into its text)", field))
        if form == "string9":
            self.refuse("_m.tool_call_id|length != 9", self.where(
                "an id must be a string of 9 characters, as the template requires (it raises otherwise)", field))
        self.refuse("(_m.tool_call_id|tojson) != ('\"' ~ _m.tool_call_id ~ '\"')", self.where(
            "the template writes the id between quotes unescaped: with a quote, a backslash or a control character "
            "it is not JSON, so it is refused", field))
        return "_m.tool_call_id"

    def cut(self, rule: ir.Cut, calls: bool = False) -> None:
        conditions = ["_i != _last"] if rule.history else []
        if rule.skip_after:
            conditions.append(f"not ({_is_in('_ns.prev', rule.skip_after)})")
        if rule.skip_calls and calls:
            conditions.append("not _tc")
        marker = quote(rule.marker)
        lstrip = f".lstrip({quote(rule.lstrip)})" if rule.lstrip else ""
        piece = {"after_last": "[-1]", "after_first": "[1]", "second_piece": "[1]"}[rule.keep]
        split = f".split({marker}, 1)" if rule.keep == "after_first" else f".split({marker})"
        if not rule.always:
            conditions.append(f"{marker} in _content")
        test = " and ".join(conditions)
        if test:
            self.tag(f"if {test}")
            self.depth += 1
        self.comment("reasoning cut")
        if rule.always:
            with self.block(f"if {marker} in _content"):
                self.tag(f"set _content = _content{split}{piece}")
            if lstrip:
                self.tag(f"set _content = _content{lstrip}")
        else:
            self.tag(f"set _content = _content{split}{piece}{lstrip}")
        if test:
            self.depth -= 1
            self.tag("endif")

    def end(self) -> None:
        self.comment("The end of the prompt: the generation prompt, or what the format writes without one.")
        body = "_ns.body" if self.hoist else "messages|length > _offset"
        facts = dict(self.request_facts(), body=body, prev_role="_ns.prev")
        self.seq(specialize((self.p.end,), self.static), self.values, facts)


class _Block:
    def __init__(self, emitter: _Emitter, statement: str) -> None:
        self.e = emitter
        self.keyword = statement.split()[0]
        emitter.tag(statement)

    def __enter__(self) -> "_Block":
        self.e.depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self.e.depth -= 1
        self.e.tag("end" + self.keyword)


def _json_tools(layout: Tuple[object, ...]) -> bool:
    """Whether the tools' layout writes definitions with ``tojson`` or a serialiser exported as a macro."""
    item = layout[6] if len(layout) > 6 else "json"
    envelope = layout[7] if len(layout) > 7 else "whole"
    # Schema keys left out ([tools] ignore) are read by the macros of definitions.py's serialisers.
    ignores = len(layout) <= 8 or (len(layout) == 9 and "__IGNORE__" in _SERIALISERS.get(str(item), ""))
    return ignores and envelope in ("whole", "function", "by_type") and (
        item in ("json", *_SERIALISERS) or (item == "json_array" and envelope == "whole"))


def _whens(choice: Choice):
    for case in choice.cases:
        yield case.when
        for piece in case.seq:
            if isinstance(piece, Choice):
                yield from _whens(piece)


def _uses(pieces: ir.Seq, name: str) -> bool:
    for piece in pieces:
        if isinstance(piece, Slot) and piece.name == name:
            return True
        if isinstance(piece, Choice) and any(_uses(case.seq, name) for case in piece.cases):
            return True
    return False


def to_jinja(fmt) -> str:
    """``fmt`` (a ``Format`` or a lowered ``Program``) as a Jinja chat template that transformers'
    ``apply_chat_template`` renders byte-identically, refusals included; ``GAPS`` lists what it
    refuses as not exported."""
    program = fmt if isinstance(fmt, ir.Program) else fmt._built.program
    spec = None if isinstance(fmt, ir.Program) else fmt.spec
    tool_use = spec.tool_use if spec is not None else None
    empty_refused = spec is not None and spec.tools is not None and spec.tools.placement == "none" and \
        spec.tools.empty != "none"
    from ..errors import FormatError

    try:
        return _Emitter(program, tool_use, empty_refused).template()
    except NotExported as error:
        raise FormatError(f"format {program.name!r} cannot be exported to Jinja: {error} is not exported") from None


def named_templates(fmt) -> Optional[List[Dict[str, str]]]:
    """For a format naming a ``tool_use`` format, both as tokenizer_config.json's list of named
    templates (``[{"name": "default", ...}, {"name": "tool_use", ...}]``): transformers renders the
    ``tool_use`` one whenever ``tools`` is given, as the format renders its ``tool_use`` format then;
    ``None`` for any other format."""
    name = fmt.spec.tool_use
    if name is None:
        return None
    # The format was loaded with the finder of the built-in formats that its tool_use key names.
    tool_use = fmt._built.resolve(name)
    return [{"name": "default", "template": fmt.to_jinja()}, {"name": "tool_use", "template": tool_use.to_jinja()}]


__all__ = ["GAPS", "named_templates", "quote", "to_jinja"]
