"""Async predict: durable requests in the control-plane database, run by a dispatcher.

`store` is the state machine over the `async_requests` table (every transition a conditional
update), `dispatcher.AsyncDispatcher` runs queued requests through the in-process data plane,
`routes` is the REST surface (`/v1/models/{name}/async_predict`, `/v1/async/{id}`). Webhooks are
in `backend.webhooks`; batch jobs in `backend.async_requests.batch` and `workflows/batch/`.
"""
