"""The documentation keeps up with the code.

Every environment variable the CRM reads (``env.<reader>("NAME")`` in the settings and the
helpers they call, ``os.environ`` in the embedded default's runner) must have a row in
docs/configuration.md and a line in .env.example; neither may list a variable nothing reads.
Links between the docs must resolve, and the ``make`` targets they name must exist.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("crm", "citizens", "cases", "campaigns", "sales", "reports")
CONFIGURATION = ROOT / "docs" / "configuration.md"
ENV_EXAMPLE = ROOT / ".env.example"
# Rows under this heading of docs/configuration.md are read by docker compose, the images or
# gunicorn, not by the CRM's code.
DEPLOYMENT_HEADING = "## Variables of the docker compose deployment"
VARIABLE = re.compile(r"^[A-Z][A-Z0-9_]*$")
TABLE_ROW = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|", re.MULTILINE)
ENV_LINE = re.compile(r"^#?([A-Z][A-Z0-9_]*)=", re.MULTILINE)


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def python_sources() -> list[Path]:
    sources = [ROOT / "manage.py"]
    for package in PACKAGES:
        sources += [
            path for path in (ROOT / package).rglob("*.py") if "migrations" not in path.parts
        ]
    return sorted(sources)


@cache
def env_readers() -> frozenset[str]:
    """The public methods of crm.env.Env: the ways settings read a variable."""
    tree = ast.parse(read(ROOT / "crm" / "env.py"))
    env_class = next(
        node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Env"
    )
    return frozenset(
        node.name
        for node in env_class.body
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")
    )


def _is_os_environ(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )


def _is_env_reader_call(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in env_readers()
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "env"
    )


def _literal(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def variables_in(tree: ast.AST) -> set[str]:
    """Names read by ``env.<reader>("NAME", ...)``, ``os.environ.get("NAME")``,
    ``os.environ["NAME"]``, ``"NAME" in os.environ`` and ``os.getenv("NAME")``."""
    names: set[str] = set()
    for node in ast.walk(tree):
        name = None
        if _is_env_reader_call(node):
            name = _literal(node.args[0]) if node.args else None
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            receiver = node.func.value
            if (node.func.attr == "get" and _is_os_environ(receiver)) or (
                node.func.attr == "getenv"
                and isinstance(receiver, ast.Name)
                and receiver.id == "os"
            ):
                name = _literal(node.args[0])
        elif isinstance(node, ast.Subscript) and _is_os_environ(node.value):
            if isinstance(node.ctx, ast.Load):
                name = _literal(node.slice)
        elif (
            isinstance(node, ast.Compare)
            and len(node.ops) == 1
            and isinstance(node.ops[0], ast.In | ast.NotIn)
            and _is_os_environ(node.comparators[0])
        ):
            name = _literal(node.left)
        if name is not None and VARIABLE.match(name):
            names.add(name)
    return names


@cache
def variables_read() -> frozenset[str]:
    names: set[str] = set()
    for path in python_sources():
        names |= variables_in(ast.parse(read(path), filename=str(path)))
    return frozenset(names)


def configuration_sections() -> tuple[str, str]:
    """docs/configuration.md split into the CRM's variables and the deployment's."""
    text = read(CONFIGURATION)
    assert DEPLOYMENT_HEADING in text, f"{CONFIGURATION} lost its '{DEPLOYMENT_HEADING}' section"
    crm_part, _, deployment_part = text.partition(DEPLOYMENT_HEADING)
    return crm_part, deployment_part


def documented(text: str) -> set[str]:
    return set(TABLE_ROW.findall(text))


def in_env_example() -> set[str]:
    return set(ENV_LINE.findall(read(ENV_EXAMPLE)))


def test_the_parser_finds_variables_of_every_kind():
    found = variables_in(
        ast.parse(
            "env.str('A_STR', '')\n"
            "env.bool('A_BOOL', default=False)\n"
            "f\"{env.int('IN_FSTRING', 1)}\"\n"
            "os.environ.get('FROM_GET')\n"
            "os.environ['FROM_ITEM']\n"
            "'FROM_IN' in os.environ\n"
            "os.getenv('FROM_GETENV')\n"
            "os.environ['WRITTEN'] = '1'\n"
            "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'crm.settings')\n"
            "env.setdefault('LOCAL_DICT', '1')\n"
        )
    )
    expected = {"A_STR", "A_BOOL", "IN_FSTRING", "FROM_GET", "FROM_ITEM", "FROM_IN"}
    assert found == expected | {"FROM_GETENV"}


def test_the_code_reads_the_variables_we_know_of():
    # settings.py, a helper it calls (crm.directory), and the embedded default's runner.
    known = {"DATABASE_URL", "SECRET_KEY", "REDIS_URL", "EMAIL_URL", "AUTH_LDAP_SERVER_URI"}
    assert known | {"PORT", "MAILCATCHER_PORT"} <= variables_read()


def test_every_env_reader_call_names_its_variable_literally():
    # A name computed at run time would escape this file's checks.
    computed = []
    for path in python_sources():
        for node in ast.walk(ast.parse(read(path), filename=str(path))):
            if _is_env_reader_call(node) and not (node.args and _literal(node.args[0])):
                computed.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not computed, f"env readers called without a literal variable name: {computed}"


def test_every_variable_read_is_in_the_configuration_reference():
    crm_part, _ = configuration_sections()
    missing = sorted(variables_read() - documented(crm_part))
    assert not missing, f"add a row to docs/configuration.md for: {missing}"


def test_the_configuration_reference_lists_only_variables_the_crm_reads():
    crm_part, _ = configuration_sections()
    stale = sorted(documented(crm_part) - variables_read())
    assert not stale, f"docs/configuration.md documents variables nothing reads: {stale}"


def test_deployment_variables_are_used_by_the_deployment_files():
    _, deployment_part = configuration_sections()
    names = documented(deployment_part)
    assert names, "the deployment section lists no variable"
    files = read(ROOT / "docker-compose.yml") + read(ROOT / "Dockerfile")
    unused = sorted(name for name in names if not re.search(rf"\b{name}\b", files))
    assert not unused, f"documented but used by neither docker-compose.yml nor Dockerfile: {unused}"


def test_every_row_of_the_reference_has_its_five_columns():
    # name | embedded default | deployment default | what it does | accepted values
    rows = [line for line in read(CONFIGURATION).splitlines() if TABLE_ROW.match(line)]
    short = [row.split("|")[1].strip() for row in rows if row.count("|") - 1 != 5]
    assert not short, f"rows without exactly five cells: {short}"


def test_every_variable_read_is_in_env_example():
    missing = sorted(variables_read() - in_env_example())
    assert not missing, f"add a line (NAME=... or #NAME=...) to .env.example for: {missing}"


def test_env_example_names_only_documented_variables():
    crm_part, deployment_part = configuration_sections()
    unknown = sorted(in_env_example() - documented(crm_part) - documented(deployment_part))
    assert not unknown, f".env.example has variables docs/configuration.md lacks: {unknown}"


def test_env_example_comments_every_variable():
    lines = read(ENV_EXAMPLE).splitlines()
    bare = [
        line.split("=")[0].lstrip("#")
        for index, line in enumerate(lines)
        if ENV_LINE.match(line)
        and not (index and lines[index - 1].startswith("# "))
        # a run of variables shares the comment above it
        and not (index and ENV_LINE.match(lines[index - 1]))
    ]
    assert not bare, f"variables in .env.example without a comment above: {bare}"


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_links_between_the_docs_resolve():
    broken = []
    for path in markdown_files():
        for target in re.findall(r"\]\(([^)\s]+)\)", read(path)):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue  # a web address, mailto:, or an anchor in the same page
            if not (path.parent / target.split("#")[0]).exists():
                broken.append(f"{path.relative_to(ROOT)} -> {target}")
    assert not broken, f"links to files that do not exist: {broken}"


def test_the_make_targets_the_docs_name_exist():
    makefile = read(ROOT / "Makefile")
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.MULTILINE))
    named = set()
    for path in markdown_files():
        named |= set(re.findall(r"`make ([a-z][a-z-]*)", read(path)))
    assert named, "the docs name no make target"
    assert not named - targets, f"make targets named in the docs but missing: {named - targets}"


def test_the_readme_starts_with_run_and_test():
    readme = read(ROOT / "README.md")
    first_block = readme.split("```")[1]
    assert "make run" in first_block
    assert "make test" in first_block
