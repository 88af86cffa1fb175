"""The Bulk Data Access server as a Starlette (ASGI) application.

Endpoints (base = the public base URL, e.g. https://carebridge.example.nhs.uk/fhir):

    GET    [base]/metadata                          CapabilityStatement (no token)
    GET    [base]/.well-known/smart-configuration   SMART configuration (no token)
    POST   [base]/token                             SMART Backend Services token request
    GET    [base]/Group/<ODS>/$export               kick-off: 202 + Content-Location (status URL)
    GET    [base]/$export                           system-level kick-off (a system client only)
    GET    [base]/ndjson/<file>.ndjson              a file of the pipeline's own manifest (a system client only; a
                                                     partitioned export lists its parts, <Type>.<part>.ndjson)
    GET    [base]/jobs/<id>                         status: 202 + X-Progress, then 200 + manifest
    DELETE [base]/jobs/<id>                         cancel / delete the job and its files: 202
    GET    [base]/jobs/<id>/<Type>.ndjson           a file of the manifest
    GET    [base]/Group/<ODS>                       the Group (its Patient members)
    GET    [base]/<Type>/<id>                       read one exported resource
    GET    [base]/{CodeSystem,StructureDefinition,NamingSystem}/<id>   read a published definition (no token)
    GET    [base]/{CodeSystem,StructureDefinition}?url=<canonical>     search them (searchset Bundle; no token)
    GET    [base]/NamingSystem?value=<identifier system>

The definitions are carebridge's own code systems, extensions and identifier systems
(`<out>/fhir/definitions/`, fhir_mapping.definitions): public, like the CapabilityStatement, so a
validator resolving a carebridge URL needs no token. Every other endpoint but the first three
needs `Authorization: Bearer <token>` (401 otherwise); a client
reaches only its own organisation's Group, jobs and resources (403 for another Group, 404 for a job
or resource outside its organisation, so their existence is not disclosed). A system client
(`system: true` in the registry, no organisation) runs the system-level export of everything the
pipeline exported, reads any exported resource and fetches the files `fhir/ndjson/manifest.json`
lists (whose `request` and output URLs are these endpoints when the base URL is the configured
CAREBRIDGE_FHIR_BASE); it has no Group.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from email.utils import formatdate
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route

from carebridge.serve.auth import Authoriser, AuthError, Grant
from carebridge.serve.capability import NDJSON, OUTPUT_FORMATS, capability_statement, smart_configuration
from carebridge.serve.clients import SYSTEM, Client
from carebridge.serve.jobs import Job, JobQueue
from carebridge.serve.store import DEFINITION_TYPES, Served

__all__ = ["create_app", "status_response", "parse_since"]

FHIR_JSON = "application/fhir+json"
_KICKOFF_PARAMS = {"_since", "_type", "_outputFormat"}
# search parameters of the published definitions (FHIR R4 names)
_DEFINITION_SEARCH = {"CodeSystem": {"url", "_id"}, "StructureDefinition": {"url", "_id"},
                      "NamingSystem": {"value", "_id"}}


class _Refusal(Exception):
    def __init__(self, status: int, code: str, text: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(text)
        self.status, self.code, self.text, self.headers = status, code, text, headers or {}


def outcome(status: int, code: str, text: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": text}]}
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=headers)


def parse_since(value: str) -> str:
    """The UTC month (YYYY-MM) of a FHIR instant; ValueError when it is not one."""
    if "T" not in value:
        raise ValueError(f"_since must be a FHIR instant with a time zone (e.g. 2026-01-01T00:00:00Z), not {value!r}")
    instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if instant.tzinfo is None:
        raise ValueError(f"_since must carry a time zone (Z or +hh:mm): {value!r}")
    return instant.astimezone(timezone.utc).strftime("%Y-%m")


def status_response(job: Job, keep_seconds: float = 3600) -> Response:
    """The IG's status response: 202 with X-Progress while running, 500 on failure, 200 + manifest."""
    if job.error:
        return outcome(500, "exception", job.error)
    if not job.finished:
        return Response(status_code=202, headers={"X-Progress": job.progress, "Retry-After": "1"})
    expires = formatdate(job.finished_at + keep_seconds, usegmt=True)
    manifest = {"transactionTime": job.transaction_time, "request": job.request, "requiresAccessToken": True,
                "output": job.output, "error": []}
    return JSONResponse(manifest, status_code=200, headers={"Expires": expires})


def _software_version() -> str:
    try:
        return version("carebridge")
    except PackageNotFoundError:
        return "unknown"


def create_app(served: Served, clients: dict[str, Client], base_url: str, work_dir: Path | None = None) -> Starlette:
    """The ASGI app serving `served` to the registered `clients`, at public base URL `base_url`."""
    base = base_url.rstrip("/")
    auth = Authoriser(clients, f"{base}/token")
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(base))
    root = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="carebridge-serve-"))
    jobs = JobQueue(served, root / "jobs")

    def grant_of(request: Request) -> Grant:
        grant = auth.grant(request.headers.get("authorization"))
        if grant is None:
            raise _Refusal(401, "login", "a valid bearer token is required (SMART Backend Services, POST "
                                         f"{base}/token)", {"WWW-Authenticate": 'Bearer realm="carebridge"'})
        return grant

    def own_job(request: Request) -> tuple[Grant, Job]:
        grant = grant_of(request)
        job = jobs.get(request.path_params["job_id"])
        if job is None or job.ods != grant.ods:
            raise _Refusal(404, "not-found", "no such export job")
        return grant, job

    async def metadata(request: Request) -> Response:
        return JSONResponse(capability_statement(base, served.types, _software_version(),
                                                 sorted({k.split("/", 1)[0] for k in served.definitions})),
                            media_type=FHIR_JSON)

    async def smart_config(request: Request) -> Response:
        return JSONResponse(smart_configuration(base))

    async def token(request: Request) -> Response:
        form = await request.form()
        try:
            body = auth.token({k: str(v) for k, v in form.items()})
        except AuthError as exc:
            return JSONResponse({"error": exc.error, "error_description": exc.description}, status_code=exc.status,
                                headers={"Cache-Control": "no-store"})
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def kickoff_types(value: str | None) -> tuple[str, ...]:
        if not value:
            return served.types
        asked = tuple(dict.fromkeys(t.strip() for t in value.split(",") if t.strip()))
        unknown = [t for t in asked if t not in served.types]
        if unknown:
            raise _Refusal(400, "not-supported", f"_type {', '.join(unknown)} is not exported by this server "
                                                 f"(exported: {', '.join(served.types)})")
        return asked

    def start_export(request: Request, grant: Grant, ods: str) -> Response:
        if "respond-async" not in request.headers.get("prefer", ""):
            return outcome(400, "invalid", "the kick-off request needs the header Prefer: respond-async")
        accept = request.headers.get("accept", FHIR_JSON)
        if not any(a in accept for a in (FHIR_JSON, "application/json", "*/*")):
            return outcome(400, "invalid", f"Accept must be {FHIR_JSON}")
        params = request.query_params
        unsupported = sorted(set(params) - _KICKOFF_PARAMS)
        if unsupported:
            return outcome(400, "not-supported", f"parameters not supported: {', '.join(unsupported)}")
        if params.get("_outputFormat", NDJSON) not in OUTPUT_FORMATS:
            return outcome(400, "not-supported", f"_outputFormat must be {NDJSON}")
        since = params.get("_since")
        try:
            since_month = parse_since(since) if since else None
        except ValueError as exc:
            return outcome(400, "invalid", str(exc))
        types = kickoff_types(params.get("_type"))
        query = urlencode(list(params.multi_items()))
        kicked = f"{origin}{request.url.path}" + (f"?{query}" if query else "")
        job = jobs.start(client_id=grant.client_id, ods=ods, request=kicked, types=types, since_month=since_month,
                         file_url_of=lambda job_id: f"{base}/jobs/{job_id}")
        return Response(status_code=202, headers={"Content-Location": f"{base}/jobs/{job.id}"})

    async def kickoff(request: Request) -> Response:
        grant = grant_of(request)
        ods = request.path_params["ods"]
        if ods not in served.groups:
            return outcome(404, "not-found", f"no Group {ods}")
        if ods != grant.ods:
            return outcome(403, "forbidden", f"client {grant.client_id} may export only Group {grant.ods}")
        return start_export(request, grant, ods)

    async def system_kickoff(request: Request) -> Response:
        grant = grant_of(request)
        if grant.ods != SYSTEM:
            return outcome(403, "forbidden", f"client {grant.client_id} may export only Group {grant.ods}; "
                                             "the system-level export is for a system client")
        return start_export(request, grant, SYSTEM)

    async def manifest_file(request: Request) -> Response:
        grant = grant_of(request)
        if grant.ods != SYSTEM:
            return outcome(403, "forbidden", "the pipeline's own files are for a system client")
        name = request.path_params["name"]
        if name not in {file for names in served.files.values() for file in names}:
            return outcome(404, "not-found", f"no file {name} in the export")
        return FileResponse(served.ndjson / name, media_type=NDJSON)

    async def job_status(request: Request) -> Response:
        _, job = own_job(request)
        return status_response(job, jobs.keep_seconds)

    async def job_delete(request: Request) -> Response:
        _, job = own_job(request)
        jobs.cancel(job.id)
        return Response(status_code=202)

    async def job_file(request: Request) -> Response:
        _, job = own_job(request)
        name = request.path_params["name"]
        listed = {f"{item['type']}.ndjson" for item in job.output}
        if not job.finished or name not in listed:
            return outcome(404, "not-found", "no such file in this export")
        return FileResponse(job.folder / name, media_type=NDJSON)

    async def group_read(request: Request) -> Response:
        grant = grant_of(request)
        ods = request.path_params["ods"]
        if ods not in served.groups:
            return outcome(404, "not-found", f"no Group {ods}")
        if ods != grant.ods:
            return outcome(403, "forbidden", f"client {grant.client_id} may read only Group {grant.ods}")
        members = sorted(k for k in served.members(ods) if k.startswith("Patient/"))
        group = {"resourceType": "Group", "id": ods, "type": "person", "actual": True,
                 "name": f"People {ods} has a care relationship with",
                 "managingEntity": {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code",
                                                   "value": ods}},
                 "quantity": len(members), "member": [{"entity": {"reference": k}} for k in members]}
        return JSONResponse(group, media_type=FHIR_JSON)

    async def read(request: Request) -> Response:
        grant = grant_of(request)
        key = f"{request.path_params['rtype']}/{request.path_params['rid']}"
        visible = key in served.offsets if grant.ods == SYSTEM else key in served.groups.get(grant.ods, {})
        line = served.line(key) if visible else None
        if line is None:
            return outcome(404, "not-found", f"{key} is not among the resources exported to {grant.ods}")
        return Response(line, media_type=FHIR_JSON)

    def definition_read(rtype: str):
        async def read_definition(request: Request) -> Response:
            key = f"{rtype}/{request.path_params['rid']}"
            resource = served.definitions.get(key)
            if resource is None:
                return outcome(404, "not-found", f"no {key} among the published definitions")
            return JSONResponse(resource, media_type=FHIR_JSON)
        return read_definition

    def definition_search(rtype: str):
        async def search(request: Request) -> Response:
            params = request.query_params
            allowed = _DEFINITION_SEARCH[rtype]
            unsupported = sorted(set(params) - allowed)
            if unsupported:
                return outcome(400, "not-supported", f"{rtype} search supports {', '.join(sorted(allowed))}, "
                                                     f"not {', '.join(unsupported)}")
            if any(len(params.getlist(name)) > 1 for name in params):
                return outcome(400, "not-supported", "give each search parameter once")
            found = served.definitions_of(rtype, dict(params))
            query = urlencode(list(params.multi_items()))
            bundle = {"resourceType": "Bundle", "type": "searchset", "total": len(found),
                      "link": [{"relation": "self", "url": f"{base}/{rtype}" + (f"?{query}" if query else "")}]}
            if found:  # FHIR JSON has no empty arrays
                bundle["entry"] = [{"fullUrl": f"{base}/{rtype}/{r['id']}", "resource": r, "search": {"mode": "match"}}
                                   for r in found]
            return JSONResponse(bundle, media_type=FHIR_JSON)
        return search

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, _Refusal)
        return outcome(exc.status, exc.code, exc.text, exc.headers)

    @asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        jobs.close()
        if work_dir is None:
            shutil.rmtree(root, ignore_errors=True)

    routes = [
        Route("/metadata", metadata, methods=["GET"]),
        Route("/.well-known/smart-configuration", smart_config, methods=["GET"]),
        Route("/token", token, methods=["POST"]),
        Route("/$export", system_kickoff, methods=["GET"]),
        Route("/ndjson/{name}", manifest_file, methods=["GET"]),
        Route("/Group/{ods}/$export", kickoff, methods=["GET"]),
        Route("/Group/{ods}", group_read, methods=["GET"]),
        Route("/jobs/{job_id}", job_status, methods=["GET"]),
        Route("/jobs/{job_id}", job_delete, methods=["DELETE"]),
        Route("/jobs/{job_id}/{name}", job_file, methods=["GET"]),
        *[Route(f"/{rtype}", definition_search(rtype), methods=["GET"]) for rtype in DEFINITION_TYPES],
        *[Route(f"/{rtype}/{{rid:str}}", definition_read(rtype), methods=["GET"]) for rtype in DEFINITION_TYPES],
        Route("/{rtype:str}/{rid:str}", read, methods=["GET"]),
    ]
    prefix = urlsplit(base).path.rstrip("/")
    if prefix:  # served under the base URL's path, so its URLs work without a rewriting proxy
        routes = [Mount(prefix, routes=routes)]
    return Starlette(routes=routes, exception_handlers={_Refusal: refused}, lifespan=lifespan)

