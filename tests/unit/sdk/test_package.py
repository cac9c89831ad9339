"""The custom model package format: schema, errors with file and line, digest, archives."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from plinth.package import (
    PackageError,
    PackageProblem,
    build_archive,
    content_digest,
    extract_archive,
    load_package,
    package_schema,
    requirements_digest,
)

ROOT = Path(__file__).resolve().parents[3]

MODEL = """\
class Model:
    def load(self):
        self.ready = True

    def predict(self, inputs):
        return inputs
"""


def write_package(path: Path, config: str = "name: echo\n", model: str = MODEL) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "plinth.yaml").write_text(config)
    (path / "model.py").write_text(model)
    return path


def problems(path: Path) -> list[PackageProblem]:
    with pytest.raises(PackageError) as caught:
        load_package(path)
    return caught.value.problems


def test_valid_package_loads_with_defaults(tmp_path: Path) -> None:
    package = load_package(write_package(tmp_path / "p"))
    assert package.config.name == "echo"
    assert package.model_class == "Model"
    assert package.config.predict_concurrency == 1
    assert package.digest.startswith("sha256:") and len(package.digest) == 71


def test_full_config_is_accepted(tmp_path: Path) -> None:
    config = """\
name: shouter
requirements:
  - numpy>=1.20
  - "my-lib @ file:///tmp/my_lib-0.1-py3-none-any.whl"
environment_variables:
  GREETING: hello
secrets: [HF_TOKEN]
resources: {cpu: 0.5, memory: 512Mi, gpu: 0}
engine:
  model_class: Model
  config: {threshold: 0.5}
predict_concurrency: 4
task: text-classification
"""
    package = load_package(write_package(tmp_path / "p", config))
    assert package.config.requirements[1].startswith("my-lib @ file:")
    assert package.config.engine.config == {"threshold": 0.5}
    assert package.config.resources.memory == "512Mi"


def test_committed_schema_matches_the_config_model() -> None:
    committed = json.loads((ROOT / "docs" / "plinth-package.schema.json").read_text())
    assert committed == package_schema(), "regenerate: plinth package schema > docs/..."
    assert "predict_concurrency" in committed["properties"]
    assert committed["additionalProperties"] is False


@pytest.mark.parametrize(
    ("config", "line", "field", "message"),
    [
        ("name: echo\nrequirements: [a\n", 3, None, "YAML syntax error"),
        ("name: echo\n  bad: indent\n", 2, None, "YAML syntax error"),
        ("requirements: []\n", 1, "name", "required field is missing"),
        ("name: Echo_Model\n", 1, "name", "not a valid name"),
        ("name: echo\n\n\nunknown_setting: 1\n", 4, "unknown_setting", "Extra inputs"),
        (
            "name: echo\nrequirements:\n  - numpy\n  - 'not a req !!'\n",
            4,
            "requirements.1",
            "not a valid requirement",
        ),
        ("name: echo\nresources:\n  gpu: 0\n  cpu: -2\n", 4, "resources.cpu", "greater than 0"),
        ("name: echo\nresources:\n  memory: lots\n", 3, "resources.memory", "memory size"),
        ("name: echo\npredict_concurrency: 0\n", 2, "predict_concurrency", "greater than"),
        ("name: echo\nsecrets:\n  - OK\n  - 'bad-name'\n", 4, "secrets.1", "secret name"),
        ("name: echo\nengine:\n  model: X\n", 3, "engine.model", "Extra inputs"),
        ("- just\n- a list\n", 1, None, "must be a mapping"),
    ],
)
def test_config_errors_name_file_and_line(
    tmp_path: Path, config: str, line: int, field: str | None, message: str
) -> None:
    found = problems(write_package(tmp_path / "p", config))
    assert found[0].file == "plinth.yaml"
    assert (found[0].line, found[0].field) == (line, field), found
    assert message in found[0].message
    assert str(found[0]).startswith(f"plinth.yaml:{line}:")


def test_several_config_errors_are_all_reported(tmp_path: Path) -> None:
    found = problems(write_package(tmp_path / "p", "name: echo\ncolor: red\nshape: round\n"))
    assert [(p.line, p.field) for p in found] == [(2, "color"), (3, "shape")]


@pytest.mark.parametrize(
    ("model", "line", "message"),
    [
        ("class Model:\n    def load(self):\n        x = (\n", 3, "syntax error"),
        ("class Model:\n    def predict(self, x)\n        return x\n", 2, "syntax error"),
        ("def load():\n    pass\n", 1, "no class with load() and predict()"),
        (
            "import os\n\nclass Model:\n    def predict(self, x):\n        return x\n",
            3,
            "no load()",
        ),
        (
            "class A:\n    def load(self): ...\n    def predict(self, x): ...\n"
            "class B:\n    def load(self): ...\n    def predict(self, x): ...\n",
            4,
            "several classes",
        ),
    ],
)
def test_model_errors_name_file_and_line(
    tmp_path: Path, model: str, line: int, message: str
) -> None:
    found = problems(write_package(tmp_path / "p", model=model))
    assert [(p.file, p.line) for p in found] == [("model.py", line)], found
    assert message in found[0].message


def test_model_class_setting_picks_the_class(tmp_path: Path) -> None:
    other = "class Other(Model):\n    def load(self): ...\n    def predict(self, x): ...\n"
    model = MODEL + "\n\n" + other
    config = "name: echo\nengine:\n  model_class: Other\n"
    assert load_package(write_package(tmp_path / "p", config, model)).model_class == "Other"
    found = problems(write_package(tmp_path / "q", "name: echo\nengine: {model_class: Nope}\n"))
    assert (found[0].file, found[0].field) == ("model.py", "engine.model_class")


def test_async_methods_count(tmp_path: Path) -> None:
    model = "class M:\n    async def load(self): ...\n    async def predict(self, x): ...\n"
    assert load_package(write_package(tmp_path / "p", model=model)).model_class == "M"


def test_config_and_model_errors_are_reported_together(tmp_path: Path) -> None:
    found = problems(write_package(tmp_path / "p", "name: 7up!\n", "class (:\n"))
    assert [p.file for p in found] == ["plinth.yaml", "model.py"]


def test_missing_files_are_named(tmp_path: Path) -> None:
    path = tmp_path / "p"
    path.mkdir()
    (path / "model.py").write_text(MODEL)
    assert problems(path)[0].file == "plinth.yaml"


def test_digest_is_deterministic_and_content_addressed(tmp_path: Path) -> None:
    a = write_package(tmp_path / "a")
    b = write_package(tmp_path / "b")
    (a / "sub").mkdir()
    (a / "sub" / "helper.py").write_text("X = 1\n")
    (b / "sub").mkdir()
    (b / "sub" / "helper.py").write_text("X = 1\n")
    os.utime(b / "model.py", (1, 1))  # times and creation order do not matter
    assert content_digest(a) == content_digest(b)
    (a / "__pycache__").mkdir()
    (a / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"\0junk")
    (a / ".git").mkdir()
    (a / ".git" / "HEAD").write_text("ref")
    assert content_digest(a) == content_digest(b)
    (b / "sub" / "helper.py").write_text("X = 2\n")
    assert content_digest(a) != content_digest(b)
    # A renamed file is another package even with the same bytes.
    (b / "sub" / "helper.py").write_text("X = 1\n")
    (b / "sub" / "helper.py").rename(b / "sub" / "helpers.py")
    assert content_digest(a) != content_digest(b)


def test_archive_is_deterministic_and_round_trips(tmp_path: Path) -> None:
    a = write_package(tmp_path / "a")
    (a / "data").mkdir()
    (a / "data" / "weights.bin").write_bytes(bytes(range(256)))
    first = build_archive(a)
    os.utime(a / "model.py", (12345, 12345))
    assert build_archive(a) == first
    out = tmp_path / "out"
    extract_archive(first, out)
    assert content_digest(out) == content_digest(a)
    assert load_package(out).digest == load_package(a).digest


def _tar(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    return raw.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


@pytest.mark.parametrize(
    "member",
    [
        (_member("../evil.py"), b"x"),
        (_member("/etc/evil.py"), b"x"),
        (_member("ok/../../evil.py"), b"x"),
        (_member("link.py", tarfile.SYMTYPE, "/etc/passwd"), b""),
        (_member("hard.py", tarfile.LNKTYPE, "model.py"), b""),
        (_member("fifo", tarfile.FIFOTYPE), b""),
    ],
)
def test_unsafe_archives_are_refused(tmp_path: Path, member: tuple[tarfile.TarInfo, bytes]) -> None:
    archive = _tar((_member("model.py"), MODEL.encode()), member)
    with pytest.raises(PackageError):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "evil.py").exists()
    assert not (tmp_path / "out" / "link.py").exists()


def test_garbage_is_not_an_archive(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="archive"):
        extract_archive(b"definitely not gzip", tmp_path / "out")


def test_symlinks_in_a_package_directory_are_refused(tmp_path: Path) -> None:
    path = write_package(tmp_path / "p")
    (path / "secret.txt").symlink_to("/etc/hostname")
    found = problems(path)
    assert found[0].file == "secret.txt" and "symbolic link" in found[0].message


def test_requirements_digest_ignores_order_spacing_and_duplicates() -> None:
    assert requirements_digest(["b>=1", "a"]) == requirements_digest(["a", "b >= 1", "a"])
    assert requirements_digest(["a"]) != requirements_digest(["a>=2"])
