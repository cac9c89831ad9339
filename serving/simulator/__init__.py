"""Discrete-event simulation of a deployment in virtual time, driving the real serving code.

    loop.py      VirtualTimeLoop: asyncio whose clock jumps to the next timer
    cluster.py   SimRuntime (cold start, replica-seconds) and SimReplicas (service times)
    traces.py    CSV replay (Azure LLM traces) and synthetic traces
    run.py       simulate(trace, policy=..., scaling=...) -> SimResult

Real code under simulation: `serving.controller.Controller`, `serving.router.Router`,
`serving.plane.DataPlane`, `serving.autoscaling` policies and tracker (see docs/decisions.md).
"""

from serving.simulator.loop import VirtualTimeLoop, run_virtual
from serving.simulator.run import SimConfig, SimResult, simulate
from serving.simulator.traces import Trace

__all__ = ["SimConfig", "SimResult", "Trace", "VirtualTimeLoop", "run_virtual", "simulate"]
