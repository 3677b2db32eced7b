"""The layout enforces itself: the direction of dependencies of STYLE.md, read from the imports.

- omp_core imports the standard library, numpy and scipy (matplotlib, pyarrow and ray lazily), nothing of ours;
- services/common never imports a particular service; one service never imports another;
- inside a service: servicer -> domain -> repository (handed in by the composition root, app.py);
  SQL only in repositories and tables; protobuf and grpc only at the edge (servicers, the gateways
  and reporters that call other services, the composition root);
- the migration history may read every service's tables, nothing else of theirs;
- the omp command talks gRPC only: services/common's plumbing and the stubs, never a service.

Every module of a service has a role, from its file name (ROLES); any other module is domain, the
strictest. Imports under ``if TYPE_CHECKING:`` are annotations, not dependencies, and are skipped.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE_ALLOWED = {"numpy", "scipy", "omp_core", "matplotlib", "pyarrow", "ray"}
OURS = ("omp_core", "omp", "omp_cli", "omp_services")

ROLES = (("app.py", "composition"), ("servicer.py", "servicer"), ("repository.py", "repository"),
         ("tables.py", "tables"), ("*_gateway.py", "edge"), ("reporter.py", "edge"), ("metrics.py", "metrics"),
         ("settings.py", "settings"), ("__init__.py", "package"))
EDGE = {"composition", "servicer", "edge"}              # may speak protobuf and grpc
SQL = {"repository", "tables"}                          # may speak SQL
COMMON_EDGE = {"server.py", "convert.py", "clients.py", "errors.py", "metrics.py", "incident_reporter.py",
               "security.py"}
#: common's modules that speak protobuf or grpc for a service: a service's edge may use them, its
#: domain may not (errors.py is the domain's exception family: everyone's)
EDGE_PLUMBING = ("omp_services.common.server", "omp_services.common.convert", "omp_services.common.clients",
                 "omp_services.common.metrics", "omp_services.common.incident_reporter", "omp_services.common.security")


def role(path: Path) -> str:
    return next((r for pattern, r in ROLES if fnmatch(path.name, pattern)), "domain")


def _type_checking_only(tree: ast.AST) -> set[int]:
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


def imports(path: Path, root: Path) -> set[str]:
    """The absolute module names ``path`` imports at run time, relative imports resolved."""
    tree = ast.parse(path.read_text())
    skip = _type_checking_only(tree)
    package = list(path.relative_to(root).with_suffix("").parts[:-1])
    if package[:1] == ["services"]:         # the folder services/ is the package omp_services
        package[0] = "omp_services"
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            if node.module:
                out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names}      # each name may be a module
    return out


def _service_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "omp_services" and parts[1] not in ("common", "migrations") else None


def _is(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def check_services(root: Path) -> list[str]:
    problems = []
    for path in sorted((root / "services").rglob("*.py")):
        rel = path.relative_to(root / "services")
        area = rel.parts[0] if len(rel.parts) > 1 else ""
        where = f"services/{rel}"
        for m in sorted(imports(path, root)):
            other = _service_of(m)
            if _is(m, "services"):
                problems.append(f"{where} imports {m}: the package is omp_services (services/ is only its folder)")
            if area == "common":
                if other or _is(m, "omp_services.migrations"):
                    problems.append(f"{where} imports {m}: common never imports a particular service")
                if _is(m, "sqlalchemy", "alembic") and rel.parts[1] != "storage":
                    problems.append(f"{where} imports {m}: SQL stays in common/storage")
                if _is(m, "omp.v1", "grpc", "google.protobuf", "grpc_health", "grpc_reflection") \
                        and path.name not in COMMON_EDGE:
                    problems.append(f"{where} imports {m}: protobuf stays at the edge")
            elif area == "migrations":
                if other and not m.endswith(".tables"):
                    problems.append(f"{where} imports {m}: the migration history reads only tables")
            elif area:
                r = role(path)
                if other and other != area:
                    problems.append(f"{where} imports {m}: one service never imports another (talk over gRPC)")
                if _is(m, "omp_cli"):
                    problems.append(f"{where} imports {m}: a service never imports the omp command")
                if _is(m, "omp.v1", "grpc", "google.protobuf", *EDGE_PLUMBING) and r not in EDGE:
                    problems.append(f"{where} imports {m}: protobuf and grpc stay at the edge ({r})")
                if _is(m, "sqlalchemy", "omp_services.common.storage") and r not in SQL | {"composition"}:
                    problems.append(f"{where} imports {m}: SQL stays in the repository and tables ({r})")
                if m.endswith((".repository", ".tables")) and other == area and r not in SQL | {"composition"}:
                    problems.append(f"{where} imports {m}: the repository is handed in by app.py ({r})")
                if m.endswith(".servicer") and other == area and r != "composition":
                    problems.append(f"{where} imports {m}: only app.py wires the servicer ({r})")
                if m.endswith(".app") and other == area:
                    problems.append(f"{where} imports {m}: nothing imports the composition root")
                if _is(m, "omp_services.migrations") and r != "composition":
                    problems.append(f"{where} imports {m}: only app.py migrates ({r})")
    return problems


def check_cli(root: Path) -> list[str]:
    problems = []
    for path in sorted((root / "omp_cli").rglob("*.py")):
        for m in sorted(imports(path, root)):
            if _is(m, "services"):
                problems.append(f"omp_cli/{path.name} imports {m}: the package is omp_services")
            if _service_of(m) or _is(m, "omp_services.migrations", "omp_services.common.storage", "sqlalchemy"):
                problems.append(f"omp_cli/{path.name} imports {m}: the omp command talks gRPC only")
    return problems


def check_core(root: Path) -> list[str]:
    problems = []
    for path in sorted((root / "omp_core").rglob("*.py")):
        top = {m.split(".")[0] for m in imports(path, root)}
        extra = {m for m in top if m not in sys.stdlib_module_names and m not in CORE_ALLOWED}
        if extra:
            problems.append(f"omp_core/{path.relative_to(root / 'omp_core')} imports {sorted(extra)}")
    return problems


def check_layout(root: Path) -> list[str]:
    return check_services(root) + check_cli(root) + check_core(root)


def test_the_tree_keeps_its_layout():
    assert check_layout(ROOT) == []


# ------------------------------------------------------------------------------ the check can fail
BAD = [
    ("services/scheduler/attempts.py", "from services.common.clock import Clock", "the package is omp_services"),
    ("omp_cli/remote.py", "import services.common.errors", "the package is omp_services"),
    ("services/common/paths.py", "from omp_services.scheduler.entities import Campaign", "common never imports"),
    ("services/common/paths.py", "import sqlalchemy", "SQL stays in common/storage"),
    ("services/common/paths.py", "from omp.v1 import common_pb2", "protobuf stays at the edge"),
    ("services/scheduler/attempts.py", "from omp_services.miner.entities import Run", "one service never imports"),
    ("services/scheduler/attempts.py", "from ..miner import runs", "one service never imports"),
    ("services/scheduler/attempts.py", "from omp.v1 import common_pb2", "protobuf and grpc stay at the edge"),
    ("services/scheduler/attempts.py", "from sqlalchemy import select", "SQL stays in the repository"),
    ("services/scheduler/attempts.py", "from .repository import SchedulerStore", "handed in by app.py"),
    ("services/scheduler/new_policy.py", "import grpc", "protobuf and grpc stay at the edge (domain)"),
    ("services/scheduler/attempts.py", "from omp_services.common.convert import ts", "protobuf and grpc stay at the edge"),
    ("services/scheduler/attempts.py", "from omp_services.common import clients", "protobuf and grpc stay at the edge"),
    ("services/scheduler/servicer.py", "from omp_services.scheduler.repository import SchedulerStore",
     "handed in by app.py"),
    ("services/scheduler/servicer.py", "from omp_services.scheduler import app", "nothing imports the composition"),
    ("services/miner/runs.py", "from omp_services.migrations import migrate", "only app.py migrates"),
    ("services/migrations/env.py", "from omp_services.scheduler.attempts import settle", "reads only tables"),
    ("omp_cli/remote.py", "from omp_services.scheduler.entities import Campaign", "talks gRPC only"),
    ("omp_cli/remote.py", "from omp_services.common.storage.db import Database", "talks gRPC only"),
    ("omp_core/stats.py", "import grpc", "omp_core/stats.py imports ['grpc']"),
]


def _copy_tree(dst: Path) -> None:
    for area in ("services", "omp_cli", "omp_core"):
        for path in (ROOT / area).rglob("*.py"):
            target = dst / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(path.read_text())


@pytest.mark.parametrize("file, line, says", BAD, ids=[f"{f}:{line}" for f, line, _ in BAD])
def test_a_planted_bad_import_is_caught(tmp_path, file, line, says):
    _copy_tree(tmp_path)
    target = tmp_path / file
    target.write_text((target.read_text() if target.exists() else "") + f"\n{line}\n")
    problems = check_layout(tmp_path)
    assert any(says in p and file.split("/")[-1] in p for p in problems), problems


def test_an_import_for_annotations_only_is_no_dependency(tmp_path):
    _copy_tree(tmp_path)
    target = tmp_path / "services/scheduler/attempts.py"
    target.write_text(target.read_text() + "\nif TYPE_CHECKING:\n    from omp_services.scheduler.repository import X\n")
    assert check_layout(tmp_path) == []


def test_cython_kernels_cimport_no_python_packages_of_ours():
    for path in (ROOT / "omp_core").glob("_*.pyx"):
        text = path.read_text()
        assert "import grpc" not in text and "sqlalchemy" not in text, path


def test_heavy_optional_libraries_are_imported_lazily():
    """Importing the core (its Ray evaluator included) must not pull in matplotlib, pyarrow or Ray."""
    code = ("import sys, omp_core.run, omp_core.ray_evaluator; "
            "print('matplotlib' in sys.modules, 'pyarrow' in sys.modules, 'ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]
