"""The `plinth` command, driven through `main(argv, client_factory=...)` against a fake platform."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import types
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import httpx
import pytest

from plinth import cli
from plinth._cli_output import DeployProgress
from plinth.types import DeploymentEvent, DeploymentStatus


def run(platform: Any, *argv: str) -> int:
    return cli.main(list(argv), client_factory=platform.client_factory)


DEPLOY = ("deploy", "sentence-transformers/all-MiniLM-L6-v2", "--name", "minilm")


def test_deploy_prints_each_event_then_how_to_call(
    platform: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    platform.script_deploy("ACTIVE")
    code = run(platform, *DEPLOY, "--min", "1", "--max", "3", "--poll-interval", "0")
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == (
        "Deploying sentence-transformers/all-MiniLM-L6-v2 as model 'minilm' "
        "(version 1, deployment dep-1)"
    )
    event_lines = [line for line in lines if re.match(r"\[\s*\d+\.\d+s\] ", line)]
    assert [line.split("] ", 1)[1] for line in event_lines] == [
        "PENDING    created: deployment requested",
        "DEPLOYING  resolved: resolved revision abc123",
        "ACTIVE     active: 1 replica ready",
    ]
    assert re.search(r"Model 'minilm' is ACTIVE \(version 1\) after \d+\.\ds\.", out)
    assert """plinth predict minilm --data '{"inputs": ["Hello world"]}'""" in out
    assert "http://plinth.test/v1/models/minilm/predict" in out
    assert "\r" not in out and "\x1b" not in out  # no spinner when not a terminal
    assert err == ""
    scaling = platform.variables("DeployModel")["input"]["scaling"]
    assert scaling == {"minReplicas": 1, "maxReplicas": 3}


def test_deploy_failed_exits_1_with_the_reason(
    platform: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    platform.script_deploy("FAILED", error="snapshot has no config.json")
    code = run(platform, *DEPLOY, "--poll-interval", "0")
    out, err = capsys.readouterr()
    assert code == 1
    assert "FAILED     failed: snapshot has no config.json" in out
    assert err.count("\n") == 1
    assert err.startswith("error: deployment dep-1 (version 1) of model 'minilm' failed: ")
    assert err.rstrip().endswith("snapshot has no config.json")


def test_deploy_validation_error_exits_2_naming_the_field(
    platform: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    platform.graphql["DeployModel"] = lambda v: {
        "deployModel": {"__typename": "ValidationError", "field": "name", "message": "bad name"}
    }
    assert run(platform, "deploy", "org/repo", "--name", "Bad_Name") == 2
    assert capsys.readouterr().err == "error: invalid name: bad name\n"


def test_deploy_no_wait_all_scaling_flags(
    platform: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    platform.script_deploy("ACTIVE")
    code = run(
        platform,
        *DEPLOY,
        "--revision",
        "v2",
        "--task",
        "feature-extraction",
        "--concurrency-target",
        "1.5",
        "--max-concurrency",
        "2",
        "--scale-down-delay",
        "10",
        "--autoscaling-window",
        "20",
        "--max-queue",
        "7",
        "--no-wait",
    )
    assert code == 0
    assert platform.poll_count() == 0
    sent = platform.variables("DeployModel")["input"]
    assert sent["revision"] == "v2" and sent["task"] == "feature-extraction"
    assert sent["scaling"] == {
        "concurrencyTarget": 1.5,
        "maxConcurrency": 2,
        "scaleDownDelaySeconds": 10.0,
        "autoscalingWindowSeconds": 20.0,
        "maxQueue": 7,
    }
    assert "plinth models get minilm" in capsys.readouterr().out


def test_deploy_batching_flags(platform: Any, capsys: pytest.CaptureFixture[str]) -> None:
    platform.script_deploy("ACTIVE")
    code = run(
        platform, *DEPLOY, "--max-batch-size", "16", "--max-batch-wait-ms", "2.5", "--no-wait"
    )
    assert code == 0
    sent = platform.variables("DeployModel")["input"]
    assert sent["batching"] == {"maxBatchSize": 16, "maxWaitMs": 2.5}
    assert run(platform, *DEPLOY, "--max-batch-size", "many") == 2
    assert "--max-batch-size" in capsys.readouterr().err


def test_missing_required_option_is_a_usage_error(
    platform: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(platform, "deploy", "org/repo") == 2
    assert "--name" in capsys.readouterr().err


def test_predict_prints_the_json_answer(
    platform: Any,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bodies: list[Any] = []

    def predict(name: str, body: Any) -> httpx.Response:
        bodies.append(body)
        return httpx.Response(200, json={"embeddings": [[0.25, -0.5]]})

    platform.predict = predict
    assert run(platform, "predict", "minilm", "--data", '{"inputs": ["hi"]}') == 0
    assert json.loads(capsys.readouterr().out) == {"embeddings": [[0.25, -0.5]]}

    path = tmp_path / "body.json"
    path.write_text('{"inputs": "x", "parameters": {"top_k": 1}}')
    assert run(platform, "predict", "minilm", "--data", f"@{path}") == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO('"bare string"'))
    assert run(platform, "predict", "minilm", "--data", "-") == 0
    assert bodies == [
        {"inputs": ["hi"]},
        {"inputs": "x", "parameters": {"top_k": 1}},
        {"inputs": "bare string"},
    ]


@pytest.mark.parametrize(
    ("status", "type_", "message", "extra", "code", "expected"),
    [
        (404, "not_found", "model 'x' not found", {}, 1, "error: model 'x' not found"),
        (
            422,
            "invalid_request",
            "missing",
            {"field": "inputs"},
            2,
            "error: invalid inputs: missing",
        ),
        (429, "queue_full", "queue is full", {}, 1, "error: queue is full"),
        (503, "unavailable", "model 'x' is DEPLOYING", {}, 1, "error: model 'x' is DEPLOYING"),
    ],
)
def test_predict_errors_are_one_line_with_exit_code(
    platform: Any,
    capsys: pytest.CaptureFixture[str],
    status: int,
    type_: str,
    message: str,
    extra: dict[str, Any],
    code: int,
    expected: str,
) -> None:
    platform.predict = lambda name, body: platform.error_response(status, type_, message, **extra)
    assert run(platform, "predict", "x", "--data", '"hello"') == code
    out, err = capsys.readouterr()
    assert (out, err) == ("", expected + "\n")


def test_predict_bad_json_is_a_usage_error(
    platform: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(platform, "predict", "x", "--data", "{not json") == 2
    assert capsys.readouterr().err.startswith("error: --data is not valid JSON")
    assert platform.requests == []


def test_unreachable_platform(capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    def factory(*, base_url: str | None, api_key: str | None) -> Any:
        from plinth import Client

        return Client(base_url, api_key, transport=httpx.MockTransport(refuse))

    code = cli.main(["--url", "http://127.0.0.1:1", "models"], client_factory=factory)
    err = capsys.readouterr().err
    assert code == 1
    assert "is `make up` / `plinth up` running at http://127.0.0.1:1?" in err


def test_global_options_before_or_after_the_command(platform: Any) -> None:
    platform.predict = lambda name, body: httpx.Response(200, json=[])
    run(platform, "--url", "http://a:1", "--api-key", "k", "predict", "m", "--data", "1")
    run(platform, "predict", "m", "--data", "1", "--url", "http://b:2")
    assert platform.factory_calls == [("http://a:1", "k"), ("http://b:2", None)]


def test_models_table_get_scale_delete(platform: Any, capsys: pytest.CaptureFixture[str]) -> None:
    ready = platform.deployment(
        "ACTIVE", replicas=[platform.replica(1), platform.replica(2, "STARTING")]
    )
    platform.graphql["ListModels"] = lambda v: {
        "models": [
            platform.model("minilm", deployments=[ready], maxReplicas=3),
            platform.model("empty"),
        ]
    }
    platform.graphql["GetModel"] = lambda v: {
        "model": platform.model("minilm", deployments=[ready])
    }
    platform.graphql["UpdateScaling"] = lambda v: {"updateScaling": platform.model(**v["scaling"])}
    platform.graphql["DeleteModel"] = lambda v: {
        "deleteModel": {"__typename": "DeletedModel", "name": "minilm"}
    }

    assert run(platform, "models") == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert rows == [
        ["NAME", "STATUS", "REPLICAS", "MIN-MAX", "REPO"],
        ["minilm", "ACTIVE", "1/2", "0-3", "sentence-transformers/all-MiniLM-L6-v2"],
        ["empty", "-", "0/0", "0-1", "-"],
    ]
    assert run(platform, "models", "get", "minilm") == 0
    details = json.loads(capsys.readouterr().out)
    assert details["active_deployment"] == "dep-1"
    assert details["scaling"]["max_replicas"] == 1

    assert run(platform, "scale", "minilm", "--min", "1", "--max", "4") == 0
    assert "replicas 1-4" in capsys.readouterr().out
    assert platform.variables("UpdateScaling") == {
        "model": "minilm",
        "scaling": {"minReplicas": 1, "maxReplicas": 4},
    }
    assert run(platform, "scale", "minilm") == 2
    assert "give at least one of --min" in capsys.readouterr().err

    assert run(platform, "delete", "minilm") == 0
    assert capsys.readouterr().out == "Deleted model 'minilm'.\n"


def test_spinner_only_on_a_terminal() -> None:
    stream = io.StringIO()
    event = DeploymentEvent(
        id="e",
        deployment_id="d",
        at="2025-01-01T00:00:00Z",
        kind="active",
        status=DeploymentStatus.ACTIVE,
        message="up",
    )
    with DeployProgress(stream, interactive=True, spin_interval=0.001) as progress:
        progress.event(event)
    text = stream.getvalue()
    assert "\r\x1b[K" in text and "ACTIVE     active: up\n" in text
    assert text.endswith("\r\x1b[K")  # the spinner line is cleared at the end


# --- plugins -------------------------------------------------------------------------------


@pytest.fixture
def plugin(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """A fake server plugin providing `import-local` (also as `models import-local`)."""
    calls: list[Any] = []
    module = types.ModuleType("fake_plinth_plugin")

    def register(subparsers: Any) -> None:
        parser = subparsers.add_parser("import-local", help="import local weights")
        parser.add_argument("--hf-home")
        parser.set_defaults(func=lambda args: calls.append(args.hf_home) or 0)

    def broken(subparsers: Any) -> None:
        raise ImportError("no module named torch")

    module.register = register  # type: ignore[attr-defined]
    module.broken = broken  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_plinth_plugin", module)
    eps = [
        EntryPoint("models.import-local", "fake_plinth_plugin:register", cli.ENTRY_POINT_GROUP),
        EntryPoint("up", "fake_plinth_plugin:broken", cli.ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(
        cli, "entry_points", lambda group: eps if group == cli.ENTRY_POINT_GROUP else []
    )
    return calls


def test_plugin_command_top_level_and_forwarded_from_group(
    plugin: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["import-local", "--hf-home", "/a"]) == 0
    assert cli.main(["models", "import-local", "--hf-home", "/b"]) == 0
    assert cli.main(["--url", "http://x", "models", "import-local"]) == 0
    assert plugin == ["/a", "/b", None]
    assert capsys.readouterr().err == ""  # only the plugin asked for was loaded


def test_broken_plugin_is_reported_and_skipped(
    plugin: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--help"]) == 0
    out, err = capsys.readouterr()
    assert "import-local" in out and "deploy" in out
    assert "skipping plugin command 'up'" in err and "no module named torch" in err


def test_builtin_commands_never_read_entry_points(
    platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(group: str) -> Any:
        raise AssertionError("built-in commands must not load plugins")

    monkeypatch.setattr(cli, "entry_points", forbidden)
    platform.predict = lambda name, body: httpx.Response(200, json=[])
    assert run(platform, "predict", "m", "--data", "1") == 0
    platform.graphql["GetModel"] = lambda v: {"model": platform.model()}
    assert run(platform, "models", "get", "minilm") == 0


def test_importing_the_cli_imports_no_server_code() -> None:
    code = (
        "import sys, plinth.cli\n"
        "heavy = {'torch', 'transformers', 'backend', 'serving', 'workflows', 'temporalio'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "[]"
