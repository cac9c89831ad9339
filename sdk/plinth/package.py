"""Custom model packages: a directory with `plinth.yaml` and `model.py`.

    my-model/
      plinth.yaml     PackageConfig: name, requirements, environment, secrets, resources, ...
      model.py        a class with load() and predict(inputs) (sync or async; a generator
                      predict streams, and plain predict answers the list it yields)
      ...             any other files the model needs (read relative to model.py)

Contract:
- `load_package(dir)` validates the package without importing any of it and returns a
  `Package` (config, model class name, content digest). Every problem is a `PackageProblem`
  with the file and 1-based line at fault (and the config field, dotted, when there is one):
  YAML syntax errors and schema errors in plinth.yaml (pydantic locations mapped back to YAML
  lines), a syntax error in model.py, a model.py without a class that has `load()` and
  `predict()` (found in its AST). `load_package` raises `PackageError` with all problems found.
- `content_digest(dir)`: sha256 over the sorted relative paths and contents of the package's
  files (`__pycache__`, `.git` and other dot-directories ignored), as "sha256:<hex>". Symlinks
  are refused: a package must mean the same bytes wherever it is unpacked.
- `build_archive(dir) -> bytes`: a deterministic tar.gz of those files (sorted, mtime 0, owner
  0, mode 0644), so the same content always gives the same bytes.
- `extract_archive(data, dest)`: unpacks an archive safely: only regular files and directories,
  relative names without `..`, bounded member count and size; anything else is a PackageError.
- `PackageConfig.model_json_schema()` is the published schema (`plinth package schema`,
  `docs/plinth-package.schema.json`).

Imports nothing of ours but `plinth.types`; the server re-validates uploads with the same code.
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import io
import re
import stat
import tarfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from plinth.types import FieldError, validate_name

CONFIG_FILE = "plinth.yaml"
MODEL_FILE = "model.py"
MAX_PACKAGE_BYTES = 64 * 1024 * 1024
MAX_PACKAGE_FILES = 2000
_IGNORED_DIRS = frozenset({"__pycache__", ".git"})
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MEMORY_RE = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$")


# -- the config ------------------------------------------------------------------------------


def _requirement(value: str) -> str:
    try:
        Requirement(value)
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "invalid"
        raise ValueError(f"{value!r} is not a valid requirement: {reason}") from exc
    return value


def _secret_name(value: str) -> str:
    if not _ENV_NAME_RE.match(value):
        raise ValueError(f"{value!r} is not a secret name (letters, digits, '_')")
    return value


RequirementStr = Annotated[str, AfterValidator(_requirement)]
SecretName = Annotated[str, AfterValidator(_secret_name)]


class Resources(BaseModel):
    """What one replica needs; hints for the runtime (a local runtime does not enforce them)."""

    model_config = ConfigDict(extra="forbid")

    cpu: float | None = Field(default=None, gt=0, description="CPU cores, e.g. 1 or 0.5.")
    memory: str | None = Field(default=None, description="Memory, e.g. '2Gi' or '512Mi'.")
    gpu: int = Field(default=0, ge=0, description="GPUs per replica.")

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        if value is not None and not _MEMORY_RE.match(value):
            raise ValueError(f"{value!r} is not a memory size: use e.g. '512Mi' or '2Gi'")
        return value


class EngineSettings(BaseModel):
    """How the custom engine runs model.py."""

    model_config = ConfigDict(extra="forbid")

    model_class: str | None = Field(
        default=None,
        description="The class in model.py to serve; default: the one class with load() "
        "and predict().",
    )
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Free-form settings handed to the model class as `config`.",
    )


class PackageConfig(BaseModel):
    """`plinth.yaml`: what a custom model package is and needs."""

    model_config = ConfigDict(extra="forbid", title="plinth.yaml")

    name: str = Field(description="Model name: 1-63 lowercase letters, digits and '-'.")
    requirements: list[RequirementStr] = Field(
        default_factory=list,
        description="Python requirements (PEP 508). Those the platform environment does not "
        "already satisfy are installed into a virtualenv shared by packages with the same "
        "requirements.",
    )
    environment_variables: dict[str, str] = Field(
        default_factory=dict, description="Environment variables of every replica."
    )
    secrets: list[SecretName] = Field(
        default_factory=list,
        description="Names of platform secrets the model needs; each replica receives them "
        "as environment variables and in `secrets`.",
    )
    resources: Resources = Field(default_factory=Resources)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    predict_concurrency: int = Field(
        default=1,
        ge=1,
        le=1024,
        description="Requests one replica runs at once (the router never sends more).",
    )
    task: str = Field(
        default="custom", description="What the model does, shown in the console (free text)."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        try:
            return validate_name(value)
        except FieldError as exc:
            raise ValueError(exc.message) from exc

    @field_validator("environment_variables")
    @classmethod
    def _env(cls, values: dict[str, str]) -> dict[str, str]:
        for key in values:
            if not _ENV_NAME_RE.match(key):
                raise ValueError(f"{key!r} is not an environment variable name")
        return values


def package_schema() -> dict[str, Any]:
    """The JSON schema of plinth.yaml."""
    return PackageConfig.model_json_schema()


def requirements_digest(requirements: Sequence[str]) -> str:
    """A digest of a requirement list that ignores order, spacing and duplicates."""
    normalized = sorted({str(Requirement(r)) for r in requirements})
    return hashlib.sha256("\n".join(normalized).encode()).hexdigest()


# -- problems --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageProblem:
    file: str  # relative to the package directory, e.g. "plinth.yaml"
    line: int  # 1-based
    message: str
    field: str | None = None  # dotted config field, e.g. "resources.cpu"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        if self.field:
            return f"{where}: {self.field}: {self.message}"
        return f"{where}: {self.message}"


class PackageError(Exception):
    """The package is invalid; `problems` says where (at least one)."""

    def __init__(self, problems: Sequence[PackageProblem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))

    @property
    def first(self) -> PackageProblem:
        return self.problems[0]


def _problem(file: str, message: str, line: int = 1, field: str | None = None) -> PackageError:
    return PackageError([PackageProblem(file=file, line=line, message=message, field=field)])


# -- loading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    path: Path
    config: PackageConfig
    model_class: str
    digest: str  # "sha256:<hex>"


def load_package(directory: str | Path) -> Package:
    """Validate the package in `directory` (see the module docstring); PackageError if bad."""
    root = Path(directory)
    if not root.is_dir():
        raise _problem(str(directory), "is not a directory", line=0)
    digest = content_digest(root)  # also refuses symlinks and oversize packages
    problems: list[PackageProblem] = []
    config: PackageConfig | None = None
    try:
        config = parse_config(_read(root, CONFIG_FILE))
    except PackageError as exc:
        problems.extend(exc.problems)
    model_class: str | None = None
    try:
        wanted = config.engine.model_class if config is not None else None
        model_class = find_model_class(_read(root, MODEL_FILE), wanted)
    except PackageError as exc:
        problems.extend(exc.problems)
    if problems or config is None or model_class is None:
        raise PackageError(problems)
    return Package(path=root, config=config, model_class=model_class, digest=digest)


def _read(root: Path, name: str) -> str:
    path = root / name
    if not path.is_file():
        raise _problem(name, f"missing: a package needs {CONFIG_FILE} and {MODEL_FILE}", line=0)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise _problem(name, f"is not UTF-8 text: {exc}") from exc


def parse_config(text: str, file: str = CONFIG_FILE) -> PackageConfig:
    """Parse and validate plinth.yaml; errors name the YAML line of the offending value."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        reason = " ".join(p for p in (exc.context, exc.problem) if p)
        raise _problem(file, f"YAML syntax error: {reason or exc}", line=line) from exc
    except yaml.YAMLError as exc:
        raise _problem(file, f"YAML error: {exc}") from exc
    if not isinstance(data, dict):
        raise _problem(file, "must be a mapping of settings (name: ..., requirements: ...)")
    try:
        return PackageConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "missing":
                message = "required field is missing"
            problems.append(
                PackageProblem(
                    file=file,
                    line=_line_of(node, loc),
                    message=message,
                    field=".".join(str(part) for part in loc) or None,
                )
            )
        raise PackageError(problems) from exc


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int:
    """1-based line of the YAML node at `loc`, else of its deepest existing ancestor."""
    if node is None:
        return 1
    line = node.start_mark.line + 1
    for part in loc:
        found: tuple[yaml.Node, int] | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    found = value, key.start_mark.line + 1  # the key's line names the setting
                    break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            item = node.value[part]
            found = item, item.start_mark.line + 1
        if found is None:
            break
        node, line = found
    return line


def find_model_class(source: str, wanted: str | None = None, file: str = MODEL_FILE) -> str:
    """The name of the class in `source` with `load()` and `predict()`, found in its AST."""
    try:
        tree = ast.parse(source, filename=file)
    except SyntaxError as exc:
        raise _problem(file, f"syntax error: {exc.msg}", line=exc.lineno or 1) from exc
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    if wanted is not None:
        for node in classes:
            if node.name == wanted:
                _check_methods(node, file)
                return node.name
        raise _problem(
            file,
            f"no class {wanted!r} (engine.model_class in {CONFIG_FILE})",
            field="engine.model_class",
        )
    complete = [node for node in classes if not _missing(node)]
    if len(complete) == 1:
        return complete[0].name
    if len(complete) > 1:
        names = ", ".join(node.name for node in complete)
        raise _problem(
            file,
            f"several classes have load() and predict() ({names}): name one as "
            f"engine.model_class in {CONFIG_FILE}",
            line=complete[1].lineno,
        )
    partial = [node for node in classes if _missing(node) != ["load", "predict"]]
    if partial:
        _check_methods(partial[0], file)
    raise _problem(file, "no class with load() and predict() methods")


def _missing(node: ast.ClassDef) -> list[str]:
    methods = {
        item.name for item in node.body if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    return [name for name in ("load", "predict") if name not in methods]


def _check_methods(node: ast.ClassDef, file: str) -> None:
    missing = _missing(node)
    if missing:
        what = " and ".join(f"{name}()" for name in missing)
        raise _problem(file, f"class {node.name} has no {what} method", line=node.lineno)


# -- digest and archive ----------------------------------------------------------------------


def package_files(root: Path) -> list[str]:
    """Relative POSIX paths of the package's files, sorted; refuses symlinks and big packages."""
    found: list[str] = []
    total = 0
    for path in _walk(root):
        rel = path.relative_to(root).as_posix()
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            raise _problem(rel, "symbolic links are not allowed in a package", line=0)
        if not stat.S_ISREG(info.st_mode):
            raise _problem(rel, "only regular files are allowed in a package", line=0)
        total += info.st_size
        found.append(rel)
        if total > MAX_PACKAGE_BYTES or len(found) > MAX_PACKAGE_FILES:
            raise _problem(
                ".",
                f"package is too large (at most {MAX_PACKAGE_FILES} files, "
                f"{MAX_PACKAGE_BYTES // (1024 * 1024)} MiB)",
                line=0,
            )
    return sorted(found)


def _walk(root: Path) -> Iterator[Path]:
    for path in sorted(root.iterdir()):
        if path.is_dir() and not path.is_symlink():
            if path.name in _IGNORED_DIRS or path.name.startswith("."):
                continue
            yield from _walk(path)
        else:
            yield path


def content_digest(root: str | Path) -> str:
    """sha256 over the sorted relative paths and contents (see the module docstring)."""
    root = Path(root)
    digest = hashlib.sha256()
    for rel in package_files(root):
        data = (root / rel).read_bytes()
        digest.update(f"{rel}\0{len(data)}\0".encode())
        digest.update(data)
    return f"sha256:{digest.hexdigest()}"


def build_archive(root: str | Path) -> bytes:
    """A deterministic tar.gz of the package's files."""
    root = Path(root)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in package_files(root):
            data = (root / rel).read_bytes()
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def extract_archive(data: bytes, dest: str | Path) -> None:
    """Unpack a package archive (tar.gz) into the (new or empty) directory `dest`, refusing
    anything but relative regular files and directories (no links, devices, absolute paths or
    `..`); a corrupt archive is a PackageError too."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            _extract_members(tar, dest)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise _problem("archive", f"not a valid tar.gz archive: {exc}", line=0) from exc


def _extract_members(tar: tarfile.TarFile, dest: Path) -> None:
    total = 0
    count = 0
    for member in tar:  # streamed: a huge member list is refused before it is all read
        count += 1
        if count > MAX_PACKAGE_FILES:
            raise _problem("archive", f"more than {MAX_PACKAGE_FILES} entries", line=0)
        name = PurePosixPath(member.name)
        if name.is_absolute() or ".." in name.parts or not name.parts:
            raise _problem(member.name, "unsafe path in archive", line=0)
        if member.isdir():
            continue
        if not member.isreg():
            raise _problem(member.name, "only regular files are allowed in a package", line=0)
        total += member.size
        if total > MAX_PACKAGE_BYTES:
            raise _problem("archive", "package is too large", line=0)
        source = tar.extractfile(member)
        if source is None:
            raise _problem(member.name, "unreadable archive member", line=0)
        target = dest.joinpath(*name.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read())
