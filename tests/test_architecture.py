"""The direction of dependencies (STYLE.md): omp_core imports the standard library, numpy and scipy
(matplotlib for the equity picture, pyarrow for Parquet, both lazily), nothing of our services."""
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE_ALLOWED = {"numpy", "scipy", "omp_core", "matplotlib", "pyarrow"}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_imports_only_the_standard_library_numpy_and_scipy():
    bad = {}
    for path in (ROOT / "omp_core").rglob("*.py"):
        extra = {m for m in imports(path) if m not in sys.stdlib_module_names and m not in CORE_ALLOWED}
        if extra:
            bad[str(path.relative_to(ROOT))] = extra
    assert not bad, bad


def test_cython_kernels_cimport_no_python_packages_of_ours():
    for path in (ROOT / "omp_core").glob("_*.pyx"):
        text = path.read_text()
        assert "import grpc" not in text and "sqlalchemy" not in text, path


def test_heavy_optional_libraries_are_imported_lazily():
    """Importing the core must not pull in matplotlib or pyarrow."""
    import subprocess
    code = "import sys, omp_core.run; print('matplotlib' in sys.modules, 'pyarrow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def _service_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return out


def test_services_depend_in_one_direction():
    """common never imports a service; one service never imports another (they talk over gRPC);
    protobuf stays at the edge: only servicers, gateways/reporters, clients and apps touch omp.v1."""
    edge = {"servicer.py", "app.py", "miner_gateway.py", "reporter.py", "clients.py"}
    problems = []
    for path in (ROOT / "services").rglob("*.py"):
        rel = path.relative_to(ROOT / "services")
        mods = _service_imports(path)
        owner = rel.parts[0]
        for m in mods:
            if m.startswith("services.") and m.split(".")[1] not in ("common", owner):
                problems.append(f"{rel} imports {m}")
            if m.startswith("omp.v1") and path.name not in edge:
                problems.append(f"{rel} imports {m} (protobuf outside the edge)")
            if m.startswith("sqlalchemy") and not (path.name == "repository.py" or "storage" in rel.parts):
                problems.append(f"{rel} imports {m} (SQL outside the storage layer)")
    assert not problems, problems


def test_omp_core_knows_no_service():
    for path in (ROOT / "omp_core").rglob("*.py"):
        assert not {m for m in imports(path) if m in ("services", "omp", "omp_cli", "grpc", "sqlalchemy")}, path
