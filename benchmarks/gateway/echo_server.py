"""The ceiling: a bare single-process Starlette app on uvicorn (uvloop, httptools) that parses the
JSON body and answers its "inputs" back, as the no-op model does, with nothing in between.

    python -m benchmarks.gateway.echo_server PORT
"""

from __future__ import annotations

import json
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def echo(request: Request) -> JSONResponse:
    payload = json.loads(await request.body())
    return JSONResponse(payload["inputs"])


app = Starlette(routes=[Route("/v1/models/{name}/predict", echo, methods=["POST"])])


def main() -> None:
    port = int(sys.argv[1])
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
