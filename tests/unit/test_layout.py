"""The package layout is the architecture: every subpackage says what it holds, and the README agrees."""

import ast
import re
from pathlib import Path

import grassroots

PACKAGE = Path(grassroots.__file__).parent
README = PACKAGE.parents[1] / "README.md"


def _subpackages() -> list[Path]:
    return sorted(p.parent for p in PACKAGE.glob("*/__init__.py"))


def test_every_subpackage_and_module_has_a_docstring():
    missing = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "__pycache__" not in path.parts and not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert not missing, f"modules without a docstring: {missing}"


def test_no_module_lies_flat_beside_the_subpackages():
    flat = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert flat == ["__init__.py", "__main__.py", "settings.py"], flat


def test_readme_layout_names_every_subpackage_and_nothing_else():
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Layout") :]
    block = section[section.index("```") + 3 :]
    block = block[: block.index("```")]
    listed = set(re.findall(r"^  ([a-z_]+)/ ", block, re.M))
    assert listed == {p.name for p in _subpackages()}


def test_the_package_docstring_names_every_subpackage():
    doc = ast.get_docstring(ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8")))
    named = set(re.findall(r"^- `([a-z_]+)`", doc, re.M))
    assert named == {p.name for p in _subpackages()}
