"""Control-plane services: functions `fn(session, *, ...)` over a sync SQLAlchemy Session.

The API (GraphQL, REST) and workflow activities change state only through these, so validation
and invariants live in one place. Callers own the transaction (`backend.db.session.session_scope`).
"""

from backend.services.models import (
    activate_deployment,
    build_scaling,
    check_scaling,
    create_deployment,
    delete_model,
    get_deployment,
    get_model,
    latest_deployment,
    list_events_since,
    list_models,
    record_event,
    require_deployment,
    require_model,
    set_deployment_status,
    set_resolution,
    update_scaling,
)
from backend.services.replicas import clear_replicas, desired_specs, replace_replicas

__all__ = [
    "activate_deployment",
    "build_scaling",
    "check_scaling",
    "clear_replicas",
    "create_deployment",
    "delete_model",
    "desired_specs",
    "get_deployment",
    "get_model",
    "latest_deployment",
    "list_events_since",
    "list_models",
    "record_event",
    "replace_replicas",
    "require_deployment",
    "require_model",
    "set_deployment_status",
    "set_resolution",
    "update_scaling",
]
