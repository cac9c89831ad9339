"""Control-plane services: functions `fn(session, *, ...)` over a sync SQLAlchemy Session.

The API (GraphQL, REST) and workflow activities change state only through these, so validation
and invariants live in one place. Callers own the transaction (`backend.db.session.session_scope`).
"""

from backend.services.keys import (
    count_api_keys,
    create_api_key,
    list_api_keys,
    revoke_api_key,
    touch_last_used,
)
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
from backend.services.secrets import (
    check_secrets_exist,
    delete_secret,
    list_secrets,
    resolve_secrets,
    set_secret,
)

__all__ = [
    "activate_deployment",
    "build_scaling",
    "check_scaling",
    "check_secrets_exist",
    "clear_replicas",
    "count_api_keys",
    "create_api_key",
    "create_deployment",
    "delete_model",
    "delete_secret",
    "desired_specs",
    "get_deployment",
    "get_model",
    "latest_deployment",
    "list_api_keys",
    "list_events_since",
    "list_models",
    "list_secrets",
    "record_event",
    "replace_replicas",
    "require_deployment",
    "require_model",
    "resolve_secrets",
    "revoke_api_key",
    "set_deployment_status",
    "set_resolution",
    "set_secret",
    "touch_last_used",
    "update_scaling",
]
