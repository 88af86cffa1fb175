"""SMART Backend Services authorisation: the client-credentials grant with a signed JWT assertion.

`Authoriser.token(form)` checks a token request (SMART App Launch 2, Backend Services):
`grant_type=client_credentials`, `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`,
a `client_assertion` signed RS384 or ES384 by a key registered for the client (joserfc verifies
the signature and picks the key by `kid`), `iss` = `sub` = a registered client_id, `aud` = this
server's token endpoint, `exp` in the future and at most five minutes away, a `jti` never seen
before for that client while it could still be valid (replay protection), and a `system/` read
scope. It returns an opaque bearer token (random, held only in this process's memory, five
minutes) bound to the client and its organisation. Nothing cryptographic is written here.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwt import JWTClaimsRegistry

from carebridge.serve.clients import ALGORITHMS, Client

__all__ = ["Authoriser", "AuthError", "Grant", "ASSERTION_TYPE", "SCOPES", "TOKEN_SECONDS"]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SCOPES = ("system/*.read", "system/*.rs")  # SMART v1 and v2 spellings of "read everything exported"
TOKEN_SECONDS = 300
MAX_ASSERTION_SECONDS = 300   # SMART: exp no more than five minutes in the future
CLOCK_SKEW = 30               # seconds of leeway on exp and iat, for clocks slightly apart


class AuthError(Exception):
    """A refused token request: an OAuth error code, a description and the HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


@dataclass(frozen=True)
class Grant:
    client_id: str
    ods: str
    scope: str
    expires_at: float


class Authoriser:
    """Checks token requests against the client registry and holds the tokens it issued."""

    def __init__(self, clients: Mapping[str, Client], token_url: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.clients = dict(clients)
        self.token_url = token_url
        self.clock = clock
        self._seen: dict[tuple[str, str], float] = {}   # (client_id, jti) -> until when it matters
        self._tokens: dict[str, Grant] = {}
        self._lock = threading.Lock()

    # --- token endpoint ----------------------------------------------------------------------

    def token(self, form: Mapping[str, str]) -> dict[str, object]:
        """The token response for a token request (form fields), or AuthError."""
        if form.get("grant_type") != "client_credentials":
            raise AuthError("unsupported_grant_type", "grant_type must be client_credentials")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise AuthError("invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}")
        assertion = form.get("client_assertion") or ""
        if not assertion:
            raise AuthError("invalid_request", "client_assertion is missing")
        scope = self._scope(form.get("scope") or "")
        client, claims = self._verify(assertion)
        self._remember_jti(client.client_id, str(claims["jti"]), float(claims["exp"]))
        now = self.clock()
        access_token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens = {t: g for t, g in self._tokens.items() if g.expires_at > now}
            self._tokens[access_token] = Grant(client.client_id, client.ods, scope, now + TOKEN_SECONDS)
        return {"access_token": access_token, "token_type": "bearer", "expires_in": TOKEN_SECONDS, "scope": scope}

    @staticmethod
    def _scope(requested: str) -> str:
        scopes = requested.split()
        if not scopes:
            raise AuthError("invalid_scope", f"ask for a scope: {' or '.join(SCOPES)}")
        refused = [s for s in scopes if s not in SCOPES]
        if refused:
            raise AuthError("invalid_scope", f"scope {' '.join(refused)} is not offered (offered: {' '.join(SCOPES)})")
        return " ".join(scopes)

    def _claimed_client(self, assertion: str) -> Client:
        """The registered client the assertion names as `iss` (read before the signature is checked,
        only to pick the keys to check it with)."""
        try:
            claimed = json.loads(jws.extract_compact(assertion.encode("ascii")).payload)
        except (JoseError, ValueError, UnicodeEncodeError) as exc:
            raise AuthError("invalid_client", f"the client assertion is not a compact JWS: {exc}", 401) from exc
        client = self.clients.get(str(claimed.get("iss"))) if isinstance(claimed, dict) else None
        if client is None:
            raise AuthError("invalid_client", "the assertion's iss is not a registered client", 401)
        return client

    def _verify(self, assertion: str) -> tuple[Client, dict[str, object]]:
        client = self._claimed_client(assertion)
        try:
            token = jwt.decode(assertion, client.keys, algorithms=list(ALGORITHMS))
        except (JoseError, ValueError) as exc:
            raise AuthError("invalid_client", f"the client assertion's signature does not verify with the "
                                              f"keys registered for {client.client_id}: {exc}", 401) from exc
        now = int(self.clock())
        registry = JWTClaimsRegistry(
            now=now, leeway=CLOCK_SKEW,
            iss={"essential": True, "value": client.client_id}, sub={"essential": True, "value": client.client_id},
            aud={"essential": True, "value": self.token_url}, exp={"essential": True}, jti={"essential": True})
        try:
            registry.validate(token.claims)
        except JoseError as exc:
            raise AuthError("invalid_client", f"the client assertion is not acceptable: {exc}", 401) from exc
        if float(token.claims["exp"]) > now + MAX_ASSERTION_SECONDS + CLOCK_SKEW:
            raise AuthError("invalid_client", "the client assertion's exp is more than five minutes away", 401)
        return client, token.claims

    def _remember_jti(self, client_id: str, jti: str, exp: float) -> None:
        now = self.clock()
        with self._lock:
            self._seen = {k: until for k, until in self._seen.items() if until > now}
            if (client_id, jti) in self._seen:
                raise AuthError("invalid_client", "this client assertion (jti) was already used", 401)
            self._seen[(client_id, jti)] = exp + CLOCK_SKEW

    # --- resource requests -------------------------------------------------------------------

    def grant(self, authorization: str | None) -> Grant | None:
        """The live grant of a `Bearer <token>` Authorization header, or None."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        with self._lock:
            grant = self._tokens.get(token.strip())
        return grant if grant is not None and grant.expires_at > self.clock() else None
