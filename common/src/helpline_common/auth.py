"""Signed bearer tokens (JWT, HS256) carrying a role and regions.

Tokens travel in the `authorization: Bearer …` metadata. They are secrets: never log them.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import grpc
import jwt

from helpline_common.errors import InvalidArgument, PermissionDenied, Unauthenticated
from helpline_common.regions import require_known

ALGORITHM = "HS256"
ISSUER = "helpline-qa"
MIN_KEY_BYTES = 32


class Role(enum.StrEnum):
    UPLOADER = "uploader"      # a regional service: ingest only
    SUPERVISOR = "supervisor"  # own regions: audits, reports, flags, transcripts, reviews
    REVIEWER = "reviewer"      # the Fund: all regions' aggregates and flags, no transcripts
    SAMPLER = "sampler"        # the nightly job: sampling and starting audits
    ADMIN = "admin"


REGIONAL_ROLES = frozenset({Role.UPLOADER, Role.SUPERVISOR})


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    regions: frozenset[str]

    def may_see_region(self, region: str) -> bool:
        return self.role not in REGIONAL_ROLES or region in self.regions

    def require_role(self, *roles: Role) -> None:
        if self.role not in roles:
            raise PermissionDenied(f"role {self.role} may not do this (allowed: {', '.join(r.value for r in roles)})")

    def require_region(self, region: str) -> None:
        if not self.may_see_region(region):
            raise PermissionDenied(f"no access to region {region}")


def _check_key(key: str) -> bytes:
    raw = key.encode()
    if len(raw) < MIN_KEY_BYTES:
        raise ValueError(f"token signing key must be at least {MIN_KEY_BYTES} bytes")
    return raw


def issue_token(key: str, subject: str, role: Role | str, regions: Iterable[str] = (),
                ttl: dt.timedelta = dt.timedelta(hours=12)) -> str:
    role = Role(role)
    regions = sorted(set(regions))
    for region in regions:
        require_known(region)
    if role in REGIONAL_ROLES and not regions:
        raise InvalidArgument(f"role {role} needs at least one region")
    now = dt.datetime.now(dt.UTC)
    claims = {"iss": ISSUER, "sub": subject, "role": role.value, "regions": regions,
              "iat": now, "exp": now + ttl, "jti": uuid.uuid4().hex}
    return jwt.encode(claims, _check_key(key), algorithm=ALGORITHM)


def verify_token(key: str, token: str) -> Principal:
    try:
        claims = jwt.decode(token, _check_key(key), algorithms=[ALGORITHM], issuer=ISSUER,
                            options={"require": ["exp", "sub", "iss"]})
        return Principal(claims["sub"], Role(claims["role"]), frozenset(claims.get("regions") or ()))
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("token expired") from None
    except (jwt.InvalidTokenError, KeyError, ValueError):
        raise Unauthenticated("invalid token") from None


def bearer_token(context: grpc.ServicerContext) -> str:
    for name, value in context.invocation_metadata():
        if name == "authorization" and value.startswith("Bearer "):
            token = value.removeprefix("Bearer ").strip()
            if token:  # an empty one is missing too
                return token
    raise Unauthenticated("missing bearer token")


def authenticate(context: grpc.ServicerContext, key: str) -> Principal:
    return verify_token(key, bearer_token(context))


def auth_metadata(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]
