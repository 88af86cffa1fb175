"""`carebridge serve`: the FHIR Bulk Data Access server (pull, the standard way).

A Starlette application under uvicorn offering group-level `$export` per organisation, with SMART
Backend Services authorisation (`auth`), clients registered per organisation (`clients`), groups
and resources read from a pipeline's output (`store`), export jobs (`jobs`) and the server's
self-description (`capability`). See docs/trusts.md for how a trust registers and pulls.
"""

from carebridge.serve.app import create_app
from carebridge.serve.clients import load_registry
from carebridge.serve.store import load_served

__all__ = ["create_app", "load_registry", "load_served"]
