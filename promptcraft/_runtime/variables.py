"""Resolving the render variables a format declares (``date_string`` and the like)."""

from __future__ import annotations

from ..errors import OptionsError

TYPE_CHECKING = False
if TYPE_CHECKING:  # the render path imports this module: keep typing and attrs out of it
    from typing import Any, Dict, Mapping



#: strftime directives that depend on the date alone (and ``%%``, ``%n``, ``%t``): a text made of
#: these stays the same until local midnight.
_DATE_DIRECTIVES = frozenset("aAbBCdDeFgGhjmnuUVwWxyY%t")

#: strftime format -> (start, end, time.tzname, text): the text holds from ``start`` to ``end``
#: (local midnights, as timestamps) in the time zone named by ``tzname``.
_today_cache: "Dict[str, tuple]" = {}


def _date_only(strftime: str) -> bool:
    pieces = strftime.split("%")
    # After each '%' comes an optional glibc flag, then the directive; "%%" leaves an empty piece.
    i = 1
    while i < len(pieces):
        piece = pieces[i]
        if piece == "" and i + 1 < len(pieces):  # "%%"
            i += 2
            continue
        directive = piece.lstrip("-_0^#")[:1]
        if directive not in _DATE_DIRECTIVES:
            return False
        i += 1
    return True


def today(strftime: str) -> str:
    """Today's local date, as transformers' ``strftime_now`` gives it.

    Formatting the clock costs more than the rest of a short render, so a text
    that depends on the date alone is reused until local midnight (or a
    change of time zone)."""
    import time

    now = time.time()
    hit = _today_cache.get(strftime)
    if hit is not None and hit[0] <= now < hit[1] and hit[2] is time.tzname:
        return hit[3]
    import datetime

    moment = datetime.datetime.fromtimestamp(now)
    text = moment.strftime(strftime)
    if _date_only(strftime):
        day = datetime.datetime.combine(moment.date(), datetime.time())
        start = day.timestamp()
        end = (day + datetime.timedelta(days=1)).timestamp()
        _today_cache[strftime] = (start, end, time.tzname, text)
    return text


def unknown_variables(spec: "Any", given: "Mapping[str, Any]") -> OptionsError:
    import difflib

    known = [v.name for v in spec.variables]
    name = sorted(given)[0]
    text = f"format {spec.name!r} has no variable {name!r}"
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        text += f"; did you mean {close[0]!r}?"
    elif known:
        text += f"; it declares: {', '.join(known)}"
    else:
        text += "; it declares none"
    return OptionsError(text)


def bad_variable(name: str, value: "Any") -> OptionsError:
    return OptionsError(f"variable {name!r} must be a string, got {type(value).__name__}")


def missing_variable(name: str) -> OptionsError:
    return OptionsError(f"variable {name!r} is required by this format: pass {name}=...")


def bad_switch(name: str, value: "Any") -> OptionsError:
    return OptionsError(f"variable {name!r} must be True or False, got {value!r}")


#: JSON texts already checked (``serialised``), by value: a server sends the same one with every request.
_checked_json: "Dict[str, bool]" = {}


def serialised(name: str, how: str, value: "Any") -> str:
    """A variable's text, where the format names a serialiser for it: a string must be JSON text (it is
    written as given), a list is written as ``json.dumps`` writes it (``how = "json_dumps"``, the only
    serialiser); anything else is an ``OptionsError`` that says what and where."""
    import json

    if isinstance(value, str):
        if value not in _checked_json:
            try:
                json.loads(value)
            except ValueError as error:
                raise OptionsError(f"variable {name!r} is written as JSON text: this string is not JSON ({error}); "
                                   f"pass a list to have it written with json.dumps") from None
            if len(_checked_json) >= 64:
                _checked_json.clear()
            _checked_json[value] = True
        return value
    if not isinstance(value, (list, tuple)):
        raise OptionsError(f"variable {name!r} must be JSON text or a list, got {type(value).__name__}")
    try:
        return json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        from .tools import json_problem

        where, reason = json_problem(value)
        raise OptionsError(f"variable {name!r}: {name}{where} {reason}") from None
def mapping_text(name: str, value: "Any", before: str, after: str) -> str:
    """A mapping variable's text: its JSON (as transformers' ``tojson`` writes it) between ``before``
    and ``after`` when it is given and not empty, ``""`` otherwise; an ``OptionsError`` for anything
    but a mapping of JSON values."""
    from collections.abc import Mapping

    if value is None:
        return ""
    if not isinstance(value, Mapping):
        raise OptionsError(f"variable {name!r} must be a mapping, got {type(value).__name__}")
    if not value:
        return ""
    from .tools import tojson

    try:
        return before + tojson(dict(value)) + after
    except ValueError:
        raise OptionsError(f"variable {name!r} must hold JSON values only (it is written with tojson)") from None


def bad_number(name: str, value: "Any") -> OptionsError:
    # The template compares the value with numbers: Jinja raises for anything else (a string, None).
    return OptionsError(f"variable {name!r} must be a number (an int or a float), got {type(value).__name__}")


def number(name: str, value: "Any", default: "Any") -> "Any":
    """A number variable's value: the one given (an int, a bool, a float), else its default."""
    if value is None:
        return default
    if not isinstance(value, (int, float)):
        raise bad_number(name, value)
    return value


def looked_up(value: "Any", gears: "tuple") -> str:
    """The text of the first gear whose bound ``value`` is at most, else the last gear's (above them all, NaN)."""
    for bound, text in gears:
        if value <= bound:
            return text
    return gears[-1][1]


def numbers(spec: "Any", given: "Mapping[str, Any]") -> "Dict[str, Any]":
    """Every number variable's value (what ``equals`` conditions test)."""
    return {var.name: number(var.name, given.get(var.name), var.number) for var in spec.variables if var.is_number}


def given_keys(spec: "Any", given: "Mapping[str, Any]") -> "tuple":
    """``(variable, key)`` for every key of every mapping variable given (what ``has`` conditions test)."""
    return tuple((var.name, key) for var in spec.variables if var.is_mapping
                 for key in (given.get(var.name) or ()))


def resolve(spec: "Any", given: "Mapping[str, Any]") -> "Dict[str, str]":
    """Every declared variable's text: from the given value, else its default."""
    known = {v.name for v in spec.variables}
    extra = {k: v for k, v in given.items() if k not in known}
    if extra:
        raise unknown_variables(spec, extra)
    values = {}
    for var in spec.variables:
        value = given.get(var.name)
        if var.is_number:
            value = number(var.name, value, var.number)
            values[var.name] = str(value)
            if var.lookup_slot is not None:
                values[var.lookup_slot] = looked_up(value, var.lookup)
            continue
        if var.is_mapping:
            values[var.name] = mapping_text(var.name, value, *var.when_given)
            continue
        if var.is_switch:
            if value is None:
                value = var.switch_default
            elif not isinstance(value, bool):
                raise bad_switch(var.name, value)
            values[var.name] = var.when_true if value else var.when_false
            continue
        if value is None:
            if var.required:
                raise missing_variable(var.name)
            value = var.default if var.strftime is None else today(var.strftime)
        elif var.serialiser is not None:
            value = serialised(var.name, var.serialiser, value)
        elif not isinstance(value, str):
            raise bad_variable(var.name, value)
        if var.empty_default and value == "":
            value = var.default
        if var.nonblank is not None:
            value = var.nonblank[0] + value + var.nonblank[1] if value.strip() else ""
        values[var.name] = value
    return values
