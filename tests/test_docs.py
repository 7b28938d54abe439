"""The documentation is tested, so that it cannot drift from the code.

- The ```python blocks of README.md and docs/API.md run, in order, one namespace per file, against a
  scratch database with the demo configuration ($CMKIT_URL points at it): README's against the demo data
  set (what `make lab` builds), docs/API.md's against an empty database its first block initialises.
  Each block is one test; it shares the state of the blocks before it in the same file.
- docs/API.md shows every public method of CustomerManager with its signature as Python has it.
- docs/RULES.md has every rule R1-R35; every `cmkit.x.y` it names imports, every test file it names
  exists and has tests named after the rule, and every file with tests named after a rule is named.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import BACKENDS, scratch_pg_database

import cmkit
from cmkit import demo
from cmkit.db.engine import dispose_engines, engine_for
from cmkit.services.activity_registry import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
RUNNABLE = ("README.md", "docs/API.md")
RULES_DOC = ROOT / "docs" / "RULES.md"
API_DOC = ROOT / "docs" / "API.md"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```\s*$", re.S | re.M)
RULE_COUNT = 35


def python_blocks(name: str) -> list[str]:
    return PYTHON_BLOCK.findall((ROOT / name).read_text(encoding="utf-8"))


def block_ids(name: str) -> list[str]:
    """`README.md-01-quick-start`: the file, the block's number and the heading it stands under."""
    text = (ROOT / name).read_text(encoding="utf-8")
    ids = []
    for number, block in enumerate(PYTHON_BLOCK.finditer(text), start=1):
        headings = re.findall(r"^#+ (.+)$", text[: block.start()], re.M)
        words = re.findall(r"[a-z0-9]+", headings[-1].lower()) if headings else []
        ids.append(f"{name}-{number:02d}-" + "-".join(words[:4]))
    return ids


BLOCKS = [
    pytest.param(name, i, id=block_id) for name in RUNNABLE for i, block_id in enumerate(block_ids(name))
]


# -- the runnable blocks -------------------------------------------------------------------------------------
@dataclass
class Session:
    """One file's scratch database and namespace, and how many of its blocks have run in it, in order."""

    name: str
    url: str
    namespace: dict[str, Any] = field(default_factory=dict)
    done: int = 0
    failed: int | None = None

    def run(self, index: int) -> None:
        assert index == self.done, f"the blocks of {self.name} run in order"
        code = compile(python_blocks(self.name)[index], f"{self.name} (python block {index + 1})", "exec")
        try:
            exec(code, self.namespace)  # noqa: S102 - the project's own documentation
        except BaseException:
            self.failed = index
            raise
        self.done = index + 1


def _prepare(name: str, url: str) -> None:
    """README's quick start works on the demo database; docs/API.md starts from an empty one."""
    if name == "README.md":
        cmkit.init(url, demo.DEMO_CONFIG)
        demo.populate(engine_for(url), progress=False)


@pytest.fixture(scope="module", params=BACKENDS)
def sessions(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str, int], Session]]:
    """`sessions(name, index)`: the file's session, with a scratch database (SQLite or PostgreSQL), that
    has run exactly the blocks before `index`: a new one when this process ran further already. Activities
    the examples register are unregistered afterwards."""
    made: dict[str, Session] = {}
    registered = dict(REGISTRY)
    with ExitStack() as stack:
        stack.callback(lambda: (REGISTRY.clear(), REGISTRY.update(registered)))

        def session(name: str, index: int) -> Session:
            if name not in made or made[name].done > index:
                if request.param == "sqlite":
                    url = f"sqlite:///{tmp_path_factory.mktemp('docs') / 'scratch.db'}"
                else:
                    url = stack.enter_context(scratch_pg_database("cmkit_docs"))
                _prepare(name, url)
                made[name] = Session(name, url)
            return made[name]

        yield session
        dispose_engines()


@pytest.mark.parametrize(("name", "index"), BLOCKS)
def test_python_block_runs(
    name: str, index: int, sessions: Callable[[str, int], Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CMKIT_RUN_ID", raising=False)
    s = sessions(name, index)
    monkeypatch.setenv("CMKIT_URL", s.url)
    # The blocks before this one, where this process has not run them (a selection with -k, pytest-xdist).
    while s.done < index:
        if s.failed is not None:
            pytest.skip(f"block {s.failed + 1} of {name} failed; this one builds on it")
        try:
            s.run(s.done)
        except Exception:
            pytest.skip(f"block {s.done + 1} of {name} fails; this one builds on it")
    if s.failed is not None:
        pytest.skip(f"block {s.failed + 1} of {name} failed; this one builds on it")
    s.run(index)


def test_readme_quick_start_is_a_python_block() -> None:
    assert any("cmkit.connect()" in block for block in python_blocks("README.md"))
    assert len(python_blocks("docs/API.md")) >= 10


# -- docs/API.md: every public method, with its signature -----------------------------------------------------
def _default(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def signature(fn: Callable[..., Any], *, method: bool) -> str:
    """`fn`'s parameters and return annotation as docs/API.md writes them: `(a, b=1, *, c=False) -> X`."""
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())[1 if method else 0 :]
    parts: list[str] = []
    starred = False  # a bare `*` or `*args` was written: what follows is keyword-only
    for p in params:
        if p.kind is p.KEYWORD_ONLY and not starred:
            parts.append("*")
            starred = True
        if p.kind is p.VAR_POSITIONAL:
            parts.append(f"*{p.name}")
            starred = True
        elif p.kind is p.VAR_KEYWORD:
            parts.append(f"**{p.name}")
        else:
            parts.append(p.name if p.default is p.empty else f"{p.name}={_default(p.default)}")
    returns = sig.return_annotation
    shown = "" if returns in (sig.empty, None, "None") else " -> " + str(returns).replace("pd.", "")
    return f"({', '.join(parts)}){shown}"


def _public_members() -> list[tuple[str, Any]]:
    return [(n, m) for n, m in inspect.getmembers(cmkit.CustomerManager) if not n.startswith("_")]


def _documented() -> tuple[str, str]:
    """docs/API.md before its section of what is planned, and that section."""
    text = API_DOC.read_text(encoding="utf-8")
    head, _sep, planned = text.partition("## Planned")
    assert planned, "docs/API.md has a section '## Planned: not there yet'"
    return head, planned


@pytest.mark.parametrize(("name", "member"), _public_members(), ids=[n for n, _m in _public_members()])
def test_api_doc_shows_every_public_method_with_its_signature(name: str, member: Any) -> None:
    head, _planned = _documented()
    if isinstance(member, property):
        assert f"`cm.{name}`" in head, f"docs/API.md does not describe cm.{name}"
        return
    shown = f"cm.{name}{signature(member, method=True)}"
    assert shown in head, f"docs/API.md does not show `{shown}` (the method's signature as Python has it)"


def test_api_doc_shows_the_package_functions() -> None:
    head, _planned = _documented()
    for name in ("init", "connect", "activity"):
        shown = f"cmkit.{name}{signature(getattr(cmkit, name), method=False)}"
        assert shown in head, f"docs/API.md does not show `{shown}`"


def test_api_doc_calls_only_methods_that_exist() -> None:
    head, planned = _documented()
    called = set(re.findall(r"\bcm\.([a-z_]+)", head + planned))
    missing = sorted(n for n in called if not hasattr(cmkit.CustomerManager, n))
    assert not missing, f"docs/API.md names methods CustomerManager does not have: {missing}"
    for name in re.findall(r"`([a-z_]+)\(", planned):  # planned methods are written without `cm.`
        assert not hasattr(cmkit.CustomerManager, name), (
            f"{name} is implemented now: move it from 'Planned' into its section of docs/API.md"
        )


# -- docs/RULES.md: names that exist ---------------------------------------------------------------------------
REFERENCE = re.compile(r"`(cmkit(?:\.[A-Za-z_][A-Za-z0-9_]*)+)`")
TEST_FILE = re.compile(r"`(tests/[\w/]+\.py)`")
RULE_HEADING = re.compile(r"^### (R\d+)\b", re.M)


def resolve(dotted: str) -> Any:
    """The object a dotted name names: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


def rule_sections() -> dict[str, str]:
    text = RULES_DOC.read_text(encoding="utf-8")
    marks = list(RULE_HEADING.finditer(text))
    ends = [m.start() for m in marks[1:]] + [len(text)]
    return {m.group(1): text[m.start() : end] for m, end in zip(marks, ends, strict=True)}


def test_rules_doc_has_every_rule_once() -> None:
    found = RULE_HEADING.findall(RULES_DOC.read_text(encoding="utf-8"))
    assert found == [f"R{n}" for n in range(1, RULE_COUNT + 1)]


def test_rules_doc_names_only_code_that_imports() -> None:
    names = sorted(set(REFERENCE.findall(RULES_DOC.read_text(encoding="utf-8"))))
    assert len(names) > 50
    broken = []
    for dotted in names:
        try:
            resolve(dotted)
        except (ImportError, AttributeError) as exc:
            broken.append(f"{dotted}: {exc}")
    assert not broken, "docs/RULES.md names what does not exist:\n" + "\n".join(broken)


def _rule_test_files(rule: str) -> set[str]:
    """The test files with a test named after `rule` (test_r18_..., test_r3_r14_..., test_r10_r11_...)."""
    number = int(rule[1:])
    named = re.compile(rf"\bdef test_(?:r\d+_)*r0*{number}_")
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "tests").rglob("test_*.py")
        if named.search(path.read_text(encoding="utf-8"))
    }


@pytest.mark.parametrize("rule", [f"R{n}" for n in range(1, RULE_COUNT + 1)])
def test_rules_doc_names_the_tests_of_each_rule(rule: str) -> None:
    section = rule_sections()[rule]
    named = set(TEST_FILE.findall(section))
    for path in named:
        assert (ROOT / path).is_file(), f"{rule} names {path}, which does not exist"
    assert named == _rule_test_files(rule), (
        f"{rule} in docs/RULES.md should name exactly the test files with tests named after it"
    )


def test_rules_doc_names_tests_for_every_rule() -> None:
    """Every rule is implemented and tested: a section that names no test file would be a promise."""
    sections = rule_sections()
    untested = [rule for rule, text in sections.items() if not TEST_FILE.findall(text)]
    assert not untested, f"docs/RULES.md names no tests for {untested}"


def test_docs_are_linked_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for doc in ("docs/RULES.md", "docs/API.md", "CHANGELOG.md"):
        assert f"({doc})" in readme, f"README.md does not link {doc}"
        assert (ROOT / doc).is_file()
