"""Custom model packages on the server: the content-addressed store and their deployments.

Layout under `$PLINTH_HOME`:

    packages/<hex>/           an uploaded package, unpacked (digest "sha256:<hex>")
    packages/<hex>.python     the interpreter its replicas run with (serving.package_env)
    venvs/<key>/              virtualenvs shared by packages with the same requirements

`PackageStore.store(archive)` unpacks into a temporary directory, re-validates with the SDK's
`load_package` (PackageError carries file and line), then renames it to its digest: a stored
package is complete and never changes. Storing the same content twice keeps the first copy.

`create_package_deployment(session, ...)` creates the model on first push (its
`max_concurrency` defaults to the package's `predict_concurrency`, and `concurrency_target` is
lowered to it when the default is higher), else a new deployment with
the next version; the row has engine "custom", `hf_repo` "package", `revision` the digest and
`model_path` the stored package directory. Signature convention of `backend.services`.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from backend.db import models as orm
from backend.errors import NotFound, ValidationFailed
from backend.services.models import create_validated_deployment
from backend.services.secrets import check_secrets_exist
from plinth.package import Package, PackageError, extract_archive, load_package
from plinth.types import FieldError, Scaling, validate_name

PACKAGE_SOURCE = "package"  # `hf_repo` of a package deployment
_HEX = frozenset("0123456789abcdef")


class PackageStore:
    def __init__(self, home: Path) -> None:
        self.root = Path(home) / "packages"
        self.venvs = Path(home) / "venvs"

    @classmethod
    def of_package_dir(cls, package_dir: Path) -> PackageStore:
        """The store a stored package directory belongs to."""
        return cls(Path(package_dir).parent.parent)

    def path(self, digest: str) -> Path:
        hexdigest = digest.removeprefix("sha256:")
        if len(hexdigest) != 64 or not set(hexdigest) <= _HEX:
            raise ValidationFailed("packageDigest", f"{digest!r} is not a sha256:<hex> digest")
        return self.root / hexdigest

    def get(self, digest: str) -> Package:
        path = self.path(digest)
        if not path.is_dir():
            raise NotFound(f"package {digest} not found: upload it first (POST /v1/packages)")
        return load_package(path)

    def store(self, archive: bytes) -> Package:
        """Unpack, validate and keep `archive`; PackageError if it is not a valid package."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".upload-", dir=self.root))
        try:
            extract_archive(archive, tmp)
            package = load_package(tmp)
            final = self.path(package.digest)
            if not final.exists():
                try:
                    tmp.rename(final)
                except OSError:  # a concurrent upload of the same content won the rename
                    if not final.is_dir():
                        raise
            return load_package(final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def create_package_deployment(
    session: Session,
    *,
    name: str,
    package: Package,
    scaling: Mapping[str, Any] | None = None,
    secret_names: Sequence[str] | None = None,
    environment: str | None = None,
    created_by: str | None = None,
) -> orm.Deployment:
    """A PENDING custom deployment of a stored package (see the module docstring), rolled out
    into `environment` (default production) like any deploy."""
    try:
        validate_name(name, field="name")
    except FieldError as exc:
        raise ValidationFailed(exc.field, exc.message) from exc
    names = list(package.config.secrets if secret_names is None else secret_names)
    try:
        secrets = check_secrets_exist(session, names=names)
    except ValidationFailed as exc:
        raise ValidationFailed(
            exc.field, f"{exc.message} (plinth.yaml lists the secrets the model needs)"
        ) from exc
    concurrency = package.config.predict_concurrency
    base = Scaling(
        max_concurrency=concurrency,
        concurrency_target=min(Scaling().concurrency_target, concurrency),
    )
    deployment = create_validated_deployment(
        session,
        name=name,
        hf_repo=PACKAGE_SOURCE,
        revision=package.digest,
        task=package.config.task,
        engine="custom",
        scaling=scaling or {},
        secret_names=secrets,
        environment=environment or "production",
        created_by=created_by,
        config={"package": package.digest, "environment": environment or "production"},
        new_model_scaling=base,
    )
    deployment.model_path = str(package.path)
    session.flush()
    return deployment


def set_package_resolution(
    session: Session,
    *,
    deployment_id: str,
    digest: str,
    model_path: str,
    message: str,
    kind: str = "resolved",
) -> orm.Deployment:
    """Record the package a custom deployment runs (at deploy, and after a hot reload)."""
    deployment = session.get(orm.Deployment, deployment_id)
    if deployment is None:
        raise NotFound(f"deployment {deployment_id!r} not found")
    deployment.revision = digest
    deployment.resolved_revision = digest
    deployment.model_path = model_path
    session.add(
        orm.DeploymentEvent(
            deployment_id=deployment.id,
            kind=kind,
            status=deployment.status,
            message=message,
        )
    )
    session.flush()
    return deployment


__all__ = [
    "PACKAGE_SOURCE",
    "PackageError",
    "PackageStore",
    "create_package_deployment",
    "set_package_resolution",
]
