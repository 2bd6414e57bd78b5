"""The packages form one pipeline: store <- ingest <- qa <- ui, and no package imports one above it."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ORDER = ["store", "ingest", "qa", "ui"]


def imported_packages(package: str) -> dict[str, set[str]]:
    """For each module of `package`, the project packages it imports (at any depth of its code)."""
    found = {}
    for path in sorted((ROOT / package).glob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
        found[path.name] = names & set(ORDER)
    return found


@pytest.mark.parametrize("package", ORDER)
def test_a_package_imports_only_the_packages_below_it(package):
    above = set(ORDER[ORDER.index(package) + 1:])
    wrong = {module: sorted(names & above) for module, names in imported_packages(package).items() if names & above}
    assert wrong == {}


def test_the_command_line_lives_with_the_other_user_interface():
    assert "cli.py" in imported_packages("ui")
    assert not (ROOT / "qa" / "cli.py").exists()
