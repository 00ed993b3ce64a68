"""shared.auth: only tokens signed by the gateway's keys, unexpired, for our audience, pass."""

import asyncio
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


async def test_a_verified_token_is_remembered_until_it_expires(verifier) -> None:
    good = token(exp=int(time.time()) + 60)
    first = await verifier.verify(good)
    assert await verifier.verify(good) is first  # the cached principal, no second RS256 check
    # Any other token is verified on its own: the same claims signed by a foreign key fail.
    with pytest.raises(Problem):
        await verifier.verify(token(FOREIGN, exp=int(time.time()) + 60))
    # Past its exp a remembered token is refused like any expired one.
    exp = int(time.time()) + 1
    brief = token(exp=exp)
    assert (await verifier.verify(brief)).subject == "u1"
    await asyncio.sleep(max(0.0, exp - time.time()) + 0.05)
    with pytest.raises(Problem) as caught:
        await verifier.verify(brief)
    assert caught.value.status == 401 and "expired" in caught.value.detail


async def test_a_remembered_token_is_refused_once_its_key_is_gone() -> None:
    keys = {"k1": KEY.public_key()}

    async def current():
        return dict(keys)

    verifier = TokenVerifier(issuer=ISS, audience=AUD, local_keys=current, refresh_interval=0.0)
    good = token()
    assert (await verifier.verify(good)).subject == "u1"
    keys.clear()
    keys["k2"] = FOREIGN.public_key()
    await verifier.verify(token(FOREIGN, kid="k2"))  # an unknown kid reloads the keys: k1 is gone
    with pytest.raises(Problem) as caught:
        await verifier.verify(good)
    assert caught.value.status == 401


async def test_the_cache_is_bounded(verifier) -> None:
    verifier.cache_size = 3
    tokens = [token(sub=f"u{i}", exp=int(time.time()) + 60 + i) for i in range(5)]
    for t in tokens:
        assert (await verifier.verify(t)).subject.startswith("u")
    assert len(verifier._verified) == 3 and tokens[-1] in verifier._verified and tokens[0] not in verifier._verified
