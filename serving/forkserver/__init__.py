"""Fork servers ("zygotes"): replicas forked from a process that has already imported torch.

A replica started with `python -m serving.replica` spends most of its cold start importing torch
and transformers (about 5 s of CPU on this project's 2-core reference machine). A fork server
pays that once: it imports an engine's libraries, and from then on forks a replica per request
in milliseconds; the child only loads its weights (memory-mapped safetensors), runs one tiny
warm-up forward pass and starts serving.

Pieces:
- `protocol`: the SOCK_SEQPACKET wire and its messages;
- `server`: the fork server process (fork-safety rules, the child's set-up);
- `client.ForkServer`: the platform's handle on one server process.

`serving.runtime_local.LocalProcessRuntime` owns one fork server per engine and falls back to a
plain spawn whenever a fork server cannot be used (still importing, failed, lost, environment
changed, a custom command line), logging why. A forked replica is a normal replica: same
command-line arguments, same log file, same /ready, /health and /predict, same SIGTERM drain,
and it dies with the platform (PR_SET_PDEATHSIG from platform to server and from server to
replica).
"""

from serving.forkserver.client import ForkServer, ForkUnavailable

__all__ = ["ForkServer", "ForkUnavailable"]
