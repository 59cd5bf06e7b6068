"""json_schema builds the tool definition transformers' get_json_schema builds, byte for byte.

No ``from __future__ import annotations`` here: the hints below are evaluated at
definition time, as in most user code; the ``X | Y`` cases are built with ``exec``
so that the file still imports on Python 3.9. The reference is transformers 5.x; 4.x releases
split a docstring's Args block and write unions differently, so these tests would fail against them.
"""

import enum
import json
import keyword
import sys
from typing import Any, Dict, List, Literal, Optional, Tuple, Union

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from promptcraft._runtime.schema import _argument_docs, _sections, json_schema
from promptcraft.errors import ConversationError


def reference():
    pytest.importorskip("transformers")
    from transformers.utils import get_json_schema

    return get_json_schema


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"
    CRIMSON = "red"  # an alias: not listed twice


class Size(enum.IntEnum):
    SMALL = 1
    LARGE = 2


class Mixed(enum.Enum):
    ONE = 1
    HALF = 0.5
    YES = True
    NAME = "name"
    NOTHING = None


class Empty(enum.Enum):
    pass


class Pairs(enum.Enum):
    A = (1, 2)


class Point:
    pass


def get_weather(location: str, unit: str = "celsius") -> str:
    """
    Get the current weather at a location.

    Args:
        location: The city and country, e.g. "Paris, France"
        unit: The unit to answer in (choices: ["celsius", "fahrenheit"])

    Returns:
        The weather, as a sentence.
    """


def no_args() -> None:
    """Do nothing at all."""


def summary_only():
    """A tool with no arguments and no sections."""


def multiply(x: float, y: float):
    """
    A function that multiplies two numbers

    Args:
        x: The first number to multiply
        y: The second number to multiply
    """


def scalars(a: bool, b: int, c: Any, d: None, e: str = "", f: float = 1.0) -> bool:
    """Scalars of every kind.

    Args:
        a: a bool
        b: an int
        c: anything
        d: always None
        e: a string
        f: a float
    """


def optionals(x: Optional[int] = None, y: Optional[Any] = None, z: Optional[Dict[str, int]] = None):
    """Optional values.

    Args:
        x: maybe an int
        y: maybe anything
        z: maybe a mapping
    """


def unions(a: Union[int, str, float], b: Union[list, tuple], c: Union[List[int], str], d: Union[int, None, str]):
    """Unions, merged into a type list when they can be and into anyOf when not.

    Args:
        a: three scalars, sorted by name
        b: two containers that are both arrays
        c: a list of ints or a string
        d: nullable in the middle
    """


def literals(mode: Literal["fast", "slow"], flag: Literal[True, False], level: Literal[1, 2, "max", None] = 1):
    """Literal values.

    Args:
        mode: how fast
        flag: a boolean literal
        level: a mixed literal
    """


def enums(color: Color, size: Size, mixed: Mixed, maybe: Optional[Color] = None):
    """Enum classes become the list of their member values.

    Args:
        color: a colour, aliases removed
        size: an IntEnum
        mixed: every scalar type
        maybe: an optional enum
    """


def lists(a: list[int], b: List[str], c: list, d: List, e: list[list[float]]) -> List[int]:
    """Lists.

    Args:
        a: ints
        b: strings
        c: a bare list
        d: a bare List
        e: a matrix

    Returns:
        Some ints.
    """


def dicts(a: Dict[str, int], b: dict, c: dict[str, list[Optional[str]]], d: Dict, e: Dict[Point, bool]):
    """Dicts: only the value type is written.

    Args:
        a: str to int
        b: a bare dict
        c: nested values
        d: a bare Dict
        e: keys of a custom class are never looked at
    """


def tuples(a: tuple[int, str], b: Tuple[float, bool, str], c: tuple, d: Tuple):
    """Tuples with fixed elements become prefixItems.

    Args:
        a: an int and a string
        b: three things
        c: a bare tuple
        d: a bare Tuple
    """


def nested(x: Optional[List[Dict[str, Union[int, Literal["a", "b"]]]]], y: Union[Color, List[Size], None] = None):
    """Nested combinations.

    Args:
        x: a deep structure
        y: an enum, a list of enums, or nothing
    """


def multiline(query: str, limit: int = 10) -> Dict[str, Any]:
    """Search the index.

    This description runs
    over several lines.

    Args:
        query: The text to look for. It may be long, so this description
            goes on over a second line
              and a third, indented further.
        limit:
            The description starts on the next line,
            and continues.

    Returns:
        A mapping of results,
        described over two lines.
    """


def unicode_docs(texte: str, 名前: int) -> str:
    """Vérifie l'été <&> "quoted" — ünïcödé 日本語 ✓.

    Args:
        texte: Un texte à vérifier <b>&amp;</b> é
        名前: 番号 <&> "x"

    Returns:
        Ça <&> marche.
    """


def typed_docs(x: int, y: str):
    """Docstring arguments may repeat the type in parentheses.

    Args:
        x (int): the x
        y (str, optional): the y
    """


def with_raises(path: str) -> bytes:
    """Read a file.

    Args:
        path: where the file is

    Returns:
        its bytes

    Raises:
        OSError: when the file cannot be read
    """


def hint_without_returns(x: int) -> Literal["ok", "error"]:
    """A return hint and no Returns section.

    Args:
        x: a number
    """


def returns_without_hint(x: int):
    """A Returns section and no return hint: the section is not used.

    Args:
        x: a number

    Returns:
        Nothing that matters.
    """


def unsupported_return(x: int) -> set:
    """A return hint with no schema is left out, not refused.

    Args:
        x: a number

    Returns:
        a set
    """


def any_return(x: int) -> Any:
    """An Any return is an empty schema, which is still written.

    Args:
        x: a number
    """


def choices(drink: str, size: int, level: Literal["lo", "hi"], note: str = "") -> None:
    """Choices suffixes.

    Args:
        drink: The drink (choices: [" tea ", "coffee"])
        size: The size, on two
            lines (Choices:   [1, 2, 3])
        level: choices replace the Literal's enum in place (choices: ["lo"])
        note: no (choices: here) at the end
    """


def variadic(*names: str, **options: int):
    """Annotated *args and **kwargs are arguments like any other.

    Args:
        names: the names
        options: the options
    """


def keyword_only(a: int, *, b: str, c: bool = False):
    """Keyword-only arguments.

    Args:
        a: positional
        b: keyword, required
        c: keyword, optional
    """


def quirks(x: int, y: int, z: str):
    """Descriptions are cut where transformers cuts them.

    Args:
        x:
            Note: an empty line after the colon makes this line x's text.
        y: a line that is not a name follows
        and belongs to y
            Also: deeper lines belong to y too
        z: Raises: cuts the Args block here
    """


def forward_ref(x: "List[int]", y: "Optional[Color]" = None):
    """String annotations are resolved.

    Args:
        x: ints
        y: a colour
    """


def empty_returns(x: int) -> int:
    """An empty Returns section still gives the return an (empty) description.

    Args:
        x: a number

    Returns:

    Raises:
        ValueError: never
    """


def receivers(cls, name: str):
    """An unannotated leading cls (or self) is the receiver, not an argument.

    Args:
        name: its name
    """


def annotated_self(self: int, other: str):
    """An annotated self is an ordinary argument.

    Args:
        self: the first
        other: the second
    """


class Toolbox:
    def run(self, x: int) -> int:
        """Run it.

        Args:
            x: the input
        """
        return x

    @classmethod
    def build(cls, name: str):
        """Build one.

        Args:
            name: its name
        """


CASES = [
    get_weather, no_args, summary_only, multiply, scalars, optionals, unions, literals, enums, lists, dicts, tuples,
    nested, multiline, unicode_docs, typed_docs, with_raises, hint_without_returns, returns_without_hint,
    unsupported_return, any_return, empty_returns, choices, variadic, keyword_only, quirks, forward_ref, receivers,
    annotated_self, Toolbox.run, Toolbox().run, Toolbox.build,
]

if sys.version_info >= (3, 10):
    _namespace = dict(globals())
    exec(  # the new union syntax would not parse on 3.9
        '''
def pipe_unions(a: int | None, b: str | int, c: list[int] | dict[str, int] | None = None, d: Color | None = None):
    """Unions written with |.

    Args:
        a: an int or nothing
        b: a string or an int
        c: a list, a mapping or nothing
        d: a colour or nothing
    """
''', _namespace)
    CASES.append(_namespace["pipe_unions"])


@pytest.mark.parametrize("function", CASES, ids=lambda f: f.__qualname__)
def test_same_definition_as_transformers(function):
    assert json.dumps(json_schema(function)) == json.dumps(reference()(function))


def test_example_definition():
    assert json_schema(get_weather) == {"type": "function", "function": {
        "name": "get_weather",
        "description": "Get the current weather at a location.",
        "parameters": {"type": "object", "properties": {
            "location": {"type": "string", "description": 'The city and country, e.g. "Paris, France"'},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "The unit to answer in"},
        }, "required": ["location"]},
        "return": {"type": "string", "description": "The weather, as a sentence."},
    }}


def no_doc(x: int):
    pass


def no_hint(x: int, y):
    """Missing hint.

    Args:
        x: the x
        y: the y
    """


def undocumented(x: int, y: int):
    """Missing description.

    Args:
        x: the x
    """


def _one_arg(hint):
    def tool(value):
        pass

    tool.__annotations__ = {"value": hint}
    tool.__doc__ = "A tool.\n\nArgs:\n    value: the value\n"
    return tool


def bad_choices(x: str):
    """Choices that are not JSON.

    Args:
        x: pick one (choices: [tea, coffee])
    """


ERRORS = {
    "no docstring": (no_doc, "no docstring"),
    "no type hint": (no_hint, "'y'"),
    "undocumented argument": (undocumented, "'y'"),
    "custom class": (_one_arg(Point), "Point"),
    "tuple of any length": (_one_arg(Tuple[int, ...]), "'value'"),
    "tuple of one": (_one_arg(tuple[int]), "'value'"),
    "set": (_one_arg(set), "'value'"),
    "list of sets": (_one_arg(List[set]), "'value'"),
    "empty enum": (_one_arg(Empty), "Empty"),
    "enum of tuples": (_one_arg(Pairs), "Pairs"),
    "literal of an enum member": (_one_arg(Literal[Color.RED]), "'value'"),
    "choices that are not JSON": (bad_choices, "'x'"),
}


@pytest.mark.parametrize("function, mentions", ERRORS.values(), ids=list(ERRORS))
def test_refused_where_transformers_refuses(function, mentions):
    reference()
    from transformers.utils.chat_template_utils import DocstringParsingException, TypeHintParsingException

    with pytest.raises((DocstringParsingException, TypeHintParsingException, ValueError)):  # ValueError: bad JSON
        reference()(function)
    with pytest.raises(ConversationError) as caught:
        json_schema(function, position=3)
    assert caught.value.field == "tools[3]" and caught.value.index is None
    assert mentions in caught.value.reason
    assert "tools[3]: " in str(caught.value)


def test_no_docstring_message():
    with pytest.raises(ConversationError, match="function 'no_doc' has no docstring: a tool given as a callable"):
        json_schema(no_doc)


def test_default_position_is_zero():
    with pytest.raises(ConversationError) as caught:
        json_schema(undocumented)
    assert caught.value.field == "tools[0]"


def test_optional_classes_by_name():
    """Pillow images and torch tensors, which transformers maps when they are importable (not in this venv)."""
    image = type("Image", (), {"__module__": "PIL.Image"})
    tensor = type("Tensor", (), {"__module__": "torch"})
    properties = json_schema(_one_arg(Dict[str, Union[image, tensor]]))["function"]["parameters"]["properties"]
    assert properties["value"]["additionalProperties"] == {"type": ["audio", "image"]}


def test_import_is_cheap():
    """Importing the module loads nothing but itself: inspect, typing and re wait for the first tool."""
    import subprocess

    def loaded(code):
        code += "; import json, sys; print(json.dumps(sorted(sys.modules)))"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        return set(json.loads(out.splitlines()[-1]))

    before, after = loaded("import promptcraft"), loaded("import promptcraft, promptcraft._runtime.schema")
    assert after - before <= {"promptcraft._runtime", "promptcraft._runtime.schema"}


# --- Generated functions ----------------------------------------------------------------------------------------

SUPPORTED = ["int", "float", "str", "bool", "Any", "None", "list", "dict", "tuple", "List", "Color", "Size", "Mixed",
             "Literal['a', 'b']", "Literal[1, 'x', None]", "Literal[True]"]
UNSUPPORTED = ["Point", "set", "Tuple[int, ...]", "tuple[str]", "list[set]", "Optional[Point]"]


def _compound(inner):
    pairs = st.tuples(inner, inner)
    shapes = [
        inner.map("list[{}]".format), inner.map("List[{}]".format), inner.map("Optional[{}]".format),
        inner.map("dict[str, {}]".format), inner.map("Dict[str, {}]".format),
        pairs.map(lambda p: "Union[{}, {}]".format(*p)), pairs.map(lambda p: "tuple[{}, {}]".format(*p)),
    ]
    if sys.version_info >= (3, 10):
        shapes.append(pairs.map(lambda p: "{} | {}".format(*p)))
    return st.one_of(shapes)


TYPES = st.recursive(st.sampled_from(SUPPORTED), _compound, max_leaves=4)
NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(lambda name: not keyword.iskeyword(name))
WORDS = st.text(st.sampled_from("abcxyz ABC éü日<&>.,-'\"():"), min_size=1, max_size=20).map(lambda s: "w" + s)
CHOICES = st.lists(st.one_of(st.integers(-5, 5), st.text(st.sampled_from("ab ,é)("), max_size=4)), min_size=1,
                   max_size=3).map(lambda values: f" (choices: {json.dumps(values)})")


@st.composite
def tools(draw):
    names = draw(st.lists(NAMES, max_size=5, unique=True))
    params, docs = [], []
    optional_from = draw(st.integers(0, len(names)))
    # Now and then one argument has a hint no schema fits.
    refused = draw(st.integers(0, len(names) - 1)) if names and draw(st.sampled_from([0, 0, 0, 0, 1])) else None
    for at, name in enumerate(names):
        hint = draw(st.sampled_from(UNSUPPORTED)) if at == refused else draw(TYPES)
        params.append(f"{name}: {hint}" + (" = None" if at >= optional_from else ""))
        if draw(st.integers(0, 20)) == 0:
            continue  # sometimes undocumented
        text = draw(WORDS)
        if draw(st.booleans()):
            text += "\n" + " " * draw(st.sampled_from([4, 6, 8])) + draw(WORDS)
        text += draw(st.one_of(st.just(""), CHOICES))
        head = f"{name} ({draw(NAMES)})" if draw(st.integers(0, 4)) == 0 else name
        docs.append(f"        {head}: {text}")
    returns = draw(st.one_of(st.just(""), st.one_of(TYPES, st.sampled_from(UNSUPPORTED)).map(" -> {}".format)))
    source = f"def tool({', '.join(params)}){returns}:\n    pass\n"
    doc = draw(WORDS) + "\n\n"
    if docs or draw(st.booleans()):
        doc += "    Args:\n" + "\n".join(docs) + "\n"
    if draw(st.booleans()):
        doc += "\n    Returns:\n        " + draw(WORDS) + "\n"
    return source, doc + "    "


def outcome(convert, function):
    try:
        return json.dumps(convert(function))
    except Exception as error:  # compared below: both convert or both refuse
        return error


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tools())
def test_generated_functions_match_transformers(tool):
    source, doc = tool
    namespace = dict(globals())
    try:
        exec(source, namespace)
    except TypeError:  # a hint Python itself rejects, such as None | None
        assume(False)
    function = namespace["tool"]
    function.__doc__ = doc
    theirs, ours = outcome(reference(), function), outcome(json_schema, function)
    if isinstance(theirs, Exception):
        assert isinstance(ours, ConversationError), (theirs, ours)
    else:
        assert ours == theirs


TEXT_PIECES = ["    ", "\t", " ", " ", "alpha", "alpha:", "beta (str):", "(", ")", ":", "text", "é日", "<&>",
               '(choices: ["p", " q "])', "\u00a0", "\x0b", "\r"]
DOC_PIECES = TEXT_PIECES + ["Args:", "Returns:", "Raises:", "\n"]
DOC_LINES = st.tuples(
    st.sampled_from(["", "", "  ", "    ", "    ", "      ", "\t", " \t"]),
    st.sampled_from(["alpha:", "alpha:", "beta:", "beta:", "beta (str):", "gamma :", "x(int):", "Note:", "text", "",
                     "Returns:", "Raises:", "Args:", "Returns: x"]),
    st.lists(st.sampled_from(TEXT_PIECES), max_size=4).map("".join),
).map("".join)
DOCS = st.tuples(
    st.lists(st.sampled_from(DOC_PIECES), max_size=8).map(lambda pieces: "Tool." + "".join(pieces)),
    st.sampled_from(["\nArgs:\n", "\n  Args:\n", "\n \u00a0Args:\n", "\n\nArgs:\n", "\nArgs: \n", "\nArgs:\n\n",
                     " Args:\n", ""]),
    st.lists(DOC_LINES, min_size=1, max_size=8).map("\n".join),
    st.sampled_from(["", "\nReturns:\n", "\n  Returns:\n  ", "\nRaises:\n", "\nReturns:\n\n"]),
    st.lists(DOC_LINES, max_size=3).map("\n".join),
).map("".join)


@settings(max_examples=300, deadline=None)
@given(DOCS)
def test_docstring_sections_match_transformers(doc):
    reference()
    from transformers.utils.chat_template_utils import parse_google_format_docstring

    doc = doc.strip()  # what get_json_schema parses is inspect.getdoc's text, stripped; raw text is the harder test
    description, block, returns = _sections(doc)
    assert (description, _argument_docs(block) if block is not None else {}, returns) == \
        parse_google_format_docstring(doc)
