"""The built wheel carries the formats: install it in a fresh venv and use it from elsewhere."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import venv
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_installs_and_renders(tmp_path):
    """A non-editable wheel lists its built-in formats and renders, outside the source tree."""
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
                   check=True, capture_output=True, text=True)
    # The distribution's name is promptcraft-chat (promptcraft on the package index is another project).
    (wheel,) = dist.glob("promptcraft_chat-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), names
    shipped = {n.split("/")[-1] for n in names if n.startswith("promptcraft/formats/")}
    expected = {p.name for p in (ROOT / "formats").glob("*.toml")}
    assert shipped == expected

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], check=True, capture_output=True, text=True)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    listed = subprocess.run([str(bindir / "promptcraft"), "list"], cwd=elsewhere, check=True,
                            capture_output=True, text=True).stdout
    assert "smollm2" in listed and "meta-llama/Llama-3.2-3B-Instruct" in listed

    chat = json.dumps([{"role": "user", "content": "Hi"}])
    rendered = subprocess.run([str(bindir / "promptcraft"), "render", "--model", "google/gemma-2-2b-it", "-g"],
                              cwd=elsewhere, input=chat, check=True, capture_output=True, text=True).stdout
    assert rendered == "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"
    where = subprocess.run([str(python), "-c", "import promptcraft._registry as r; print(r.formats_dir())"],
                           cwd=elsewhere, check=True, capture_output=True, text=True).stdout.strip()
    assert where.startswith(str(env_dir))


@pytest.mark.slow
def test_sdist_carries_licence_changelog_and_compatibility(tmp_path):
    """The source distribution is complete: licence, changelog, compatibility report, formats, tests."""
    import tarfile

    subprocess.run([sys.executable, "-m", "build", "--sdist", "-o", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, text=True)
    (sdist,) = tmp_path.glob("promptcraft_chat-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for wanted in ("LICENSE", "CHANGELOG.md", "COMPATIBILITY.md", "README.md", "formats/qwen2.5.toml",
                   "tests/test_structured.py"):
        assert wanted in names, wanted
    assert not any(name.startswith("promptcraft/_precompiled/f_") for name in names)
