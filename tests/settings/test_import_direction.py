"""Imports run one way: clinic <- visits <- rooms, and nothing of the product imports the local
stand-ins or the tests. clinic/asgi.py and clinic/urls.py are the composition root: they wire
the apps together, so they alone in clinic may import visits and rooms.

The source is read with ast (nothing is imported), so an import inside a function counts too.
"""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMPOSITION_ROOT = {"clinic/asgi.py", "clinic/urls.py"}

# (package whose files are checked, top-level packages it must not import, files exempted)
RULES = [
    ("visits", {"rooms", "standins", "tests"}, set()),
    ("clinic", {"visits", "rooms"}, COMPOSITION_ROOT),
    ("clinic", {"standins", "tests"}, set()),
    ("rooms", {"standins", "tests"}, set()),
]


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_of(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append((node.lineno, module))
    return found


def violations(package: str, forbidden: set[str], exempt: set[str]) -> list[str]:
    found = []
    for path in sorted((REPO / package).rglob("*.py")):
        where = path.relative_to(REPO).as_posix()
        if where in exempt:
            continue
        for line, module in imported_modules(path):
            if module.split(".")[0] in forbidden:
                found.append(f"{where}:{line} imports {module}")
    return found


@pytest.mark.parametrize(
    ("package", "forbidden", "exempt"),
    RULES,
    ids=[f"{package}-not-{'-'.join(sorted(forbidden))}" for package, forbidden, _ in RULES],
)
def test_imports_run_one_way(package, forbidden, exempt):
    assert violations(package, forbidden, exempt) == []


def test_the_checker_sees_imports_of_every_form(tmp_path, monkeypatch):
    """A checker that finds nothing proves nothing: it must see each way of writing an import."""
    monkeypatch.setattr(f"{__name__}.REPO", tmp_path)
    (tmp_path / "visits" / "views").mkdir(parents=True)
    (tmp_path / "visits" / "views" / "page.py").write_text(
        "import rooms.state\n"
        "from rooms import selectors\n"
        "def later():\n"
        "    from standins.calls_sfu import server\n"
        "from .. import models\n"
    )
    assert violations("visits", {"rooms", "standins"}, set()) == [
        "visits/views/page.py:1 imports rooms.state",
        "visits/views/page.py:2 imports rooms",
        "visits/views/page.py:4 imports standins.calls_sfu",
    ]
    assert ("visits", 5) in {
        (module, line)
        for line, module in imported_modules(tmp_path / "visits" / "views" / "page.py")
    }
