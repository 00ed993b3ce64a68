"""shared.auth: only tokens signed by the gateway's keys, unexpired, for our audience, pass."""

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.auth import Principal, TokenVerifier, principal_from_claims
from shared.errors import Problem

ISS, AUD = "quangang-gateway", "quangang-social-assistance"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
FOREIGN = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def token(key=KEY, *, kid="k1", alg="RS256", **overrides) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": AUD, "sub": "u1", "iat": now, "exp": now + 60, "roles": ["town_caseworker"], "town": "350505100"}
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


@pytest.fixture
def verifier() -> TokenVerifier:
    async def keys():
        return {"k1": KEY.public_key()}

    return TokenVerifier(issuer=ISS, audience=AUD, local_keys=keys)


async def test_valid_token_gives_principal(verifier) -> None:
    principal = await verifier.verify(token())
    assert principal.subject == "u1" and principal.roles == {"town_caseworker"} and principal.town == "350505100"
    assert not principal.district_wide


@pytest.mark.parametrize(
    "bad",
    [
        lambda: token(exp=int(time.time()) - 5),
        lambda: token(FOREIGN),  # same kid, another key
        lambda: token(kid="unknown"),
        lambda: token(aud="someone-else"),
        lambda: token(iss="someone-else"),
        lambda: jwt.encode({"sub": "u1", "iss": ISS, "aud": AUD, "exp": int(time.time()) + 60, "iat": int(time.time())}, None, algorithm="none"),
        lambda: jwt.encode({"sub": "u1"}, "secret", algorithm="HS256", headers={"kid": "k1"}),
        lambda: "not-a-token",
    ],
    ids=["expired", "foreign-key", "unknown-kid", "audience", "issuer", "alg-none", "hs256", "garbage"],
)
async def test_bad_tokens_are_401(verifier, bad) -> None:
    with pytest.raises(Problem) as caught:
        await verifier.verify(bad())
    assert caught.value.status == 401 and caught.value.code == "unauthorized"


def test_town_scope() -> None:
    town_user = principal_from_claims({"sub": "a", "roles": ["town_approver"], "town": "350505100"})
    district = principal_from_claims({"sub": "b", "roles": ["district_approver"]})
    client = principal_from_claims({"sub": "c", "typ": "client", "scope": "bank statistics"})
    assert town_user.can_see_town("350505100") and not town_user.can_see_town("350505101")
    assert district.can_see_town("350505101") and client.district_wide
    assert client.scopes == {"bank", "statistics"}
    with pytest.raises(Problem) as caught:
        town_user.ensure_town("350505101", "household")
    assert caught.value.status == 404


def test_principal_without_town_sees_no_town() -> None:
    assert not Principal(subject="x", roles=frozenset({"town_caseworker"})).can_see_town("350505100")
