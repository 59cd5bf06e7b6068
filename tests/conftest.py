"""Shared fixtures: the template corpus, the golden-file switch."""

from __future__ import annotations

import json
import os
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from hf_reference import CORPUS, PUBLIC_CASES  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() == "true"


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files from the current output")


@pytest.fixture
def update_golden(request):
    return request.config.getoption("--update-golden")


def require(condition: bool, reason: str) -> None:
    """Skip when a test's outside input is missing, except in CI, where that is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: missing inputs fail the run instead of skipping)")
    pytest.skip(reason)


def require_corpus() -> None:
    require(CORPUS.is_dir() and any(CORPUS.glob("*.json")), f"template corpus not found at {CORPUS}")
    require(PUBLIC_CASES.is_file(), f"public conversation cases not found at {PUBLIC_CASES}")


def require_transformers() -> None:
    try:
        import jinja2  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        require(False, "transformers and jinja2 are needed (pip install -e '.[test]')")


def sample_variables(fmt, text: str = "01 Jan 2025") -> dict:
    """A value for every variable a format declares: switches keep their default, texts get ``text``
    (as JSON text where a serialiser writes the variable, firefunction's ``functions``), mapping variables
    are not given."""
    return {v.name: sample_value(v, text) for v in fmt.spec.variables if not v.is_mapping}


#: What a mapping variable gets in the property tests: keys a condition may test, a value to write.
MAPPING_VALUE = {"citations": True, "length": "short", "k": "<&>é"}


def switches_off(fmt) -> dict:
    """Every switch False, every text variable ``"v"`` (as JSON text where a serialiser writes it), every
    mapping variable ``MAPPING_VALUE``."""
    return {v.name: (False if v.is_switch else dict(MAPPING_VALUE) if v.is_mapping else sample_value(v))
            for v in fmt.spec.variables}


def switches_drawn(data, fmt) -> dict:
    """Every switch drawn either way (part labels among them), every text variable as ``switches_off``, every
    mapping variable ``MAPPING_VALUE`` or empty."""
    from hypothesis import strategies as st

    return {v.name: (data.draw(st.booleans()) if v.is_switch else data.draw(st.sampled_from([dict(MAPPING_VALUE), {}]))
                     if v.is_mapping else data.draw(st.sampled_from(NUMBER_VALUES)) if v.is_number
                     else sample_value(v)) for v in fmt.spec.variables}


#: What a number variable gets in the property tests: the numbers conditions test, a float equal to
#: one of them, a bool (True == 1), a number above every gear, NaN.
NUMBER_VALUES = [-1, 0, 1, 2, 2.0, True, 1.5, 10**20, float("nan")]


def sample_value(variable, text: str = "v"):
    """A valid value of one variable: a switch's default, ``text``, or ``text`` as a JSON string for a
    variable a serialiser writes (which takes JSON text only)."""
    if variable.is_switch:
        return variable.switch_default
    if variable.is_number:
        return variable.number
    return json.dumps(text) if variable.serialiser else text
