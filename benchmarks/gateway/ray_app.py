"""Ray Serve's no-op deployment, run by the separate Ray environment (see README.md):

    .venv-ray/bin/python benchmarks/gateway/ray_app.py PORT

One replica of a deployment that parses the JSON body and answers its "inputs" back, behind Ray
Serve's HTTP proxy on 127.0.0.1:PORT at /v1/models/noop/predict. Prints RAY_READY when it
answers, then serves until killed. It imports only Ray and the standard library (this file is
not part of the Plinth package and is not type-checked with it).
"""

import json
import sys
import time
import urllib.request

from ray import serve  # type: ignore[import-not-found]
from starlette.requests import Request  # installed with ray[serve]
from starlette.responses import JSONResponse


@serve.deployment(num_replicas=1, max_ongoing_requests=32)
class Noop:
    async def __call__(self, request: Request) -> JSONResponse:
        payload = json.loads(await request.body())
        return JSONResponse(payload["inputs"])


def main() -> None:
    port = int(sys.argv[1])
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(Noop.bind(), route_prefix="/v1/models/noop/predict")
    body = json.dumps({"inputs": "ready?"}).encode()
    deadline = time.monotonic() + 120
    while True:
        try:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/v1/models/noop/predict", data=body, method="POST"
            )
            with urllib.request.urlopen(request, timeout=5) as answer:
                answer.read()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    print("RAY_READY", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
