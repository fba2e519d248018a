"""A property-based fuzz of the API generated from its own OpenAPI document: no input gets a 5xx.

Requests are drawn from `/openapi.json` (every path and method it lists, path and query
parameters from their schemas, bodies from the request models' JSON schemas) and then
mutated: values out of range, wrong types, extra fields, random JSON, raw junk bytes (and, where
an operation also takes msgpack, msgpack values and junk). Every answer must be below 500 and,
except for metrics, event streams and msgpack answers, a JSON object. The same
`check_api_never_5xx` runs against the real 4-validator network in `test_api_e2e.py`.
"""

from __future__ import annotations

import json
import string
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import msgpack
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.receipt import decode_receipt
from ledger.tx import RegisterParticipant
from network.api_limits import ApiLimits
from tests.network.apifake import ALICE, COMPLIANCE, FakeChain, FakeNode, serve_node, signed

HEX = st.text(alphabet="0123456789abcdefABCDEF", max_size=80)
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
MSGPACK_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**64 - 1),
        st.floats(),
        st.text(max_size=20),
        st.binary(max_size=8),
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
VALID_TX = signed(COMPLIANCE, RegisterParticipant(ALICE.public_key, "fuzz", 7))


@st.composite
def mutated_tx(draw: st.DrawFn) -> str:
    data = bytearray(VALID_TX)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut] if draw(st.booleans()) else data).hex()


def from_schema(schema: dict[str, Any], known: tuple[str, ...] = ()) -> st.SearchStrategy[Any]:
    """Values for a parameter or property: ones its schema allows, ones it does not, and
    `known` strings (ids, keys, heights that exist on the chain under test)."""
    options: list[st.SearchStrategy[Any]] = [JSON_SCALARS, HEX]
    if known:
        options += [st.sampled_from(known)] * 3
    for alternative in schema.get("anyOf", []):
        options.append(from_schema(alternative, known))
    kind = schema.get("type")
    if kind == "integer":
        low, high = schema.get("minimum", -(2**70)), schema.get("maximum", 2**70)
        options += [st.integers(low, high), st.integers(), st.sampled_from([0, -1, high + 1])]
    elif kind == "number":
        options += [st.floats(allow_nan=True, allow_infinity=True), st.floats(0.001, 0.05)]
    elif kind == "string":
        hex_size = {"^[0-9a-fA-F]{32}$": 16, "^[0-9a-fA-F]{64}$": 32}.get(schema.get("pattern", ""))
        if hex_size is not None:  # random bytes: from_regex would mostly give "000..."
            options += [st.binary(min_size=hex_size, max_size=hex_size).map(bytes.hex)] * 3
        elif "pattern" in schema:
            options += [st.from_regex(schema["pattern"], fullmatch=True)] * 3
        options += [
            st.text(max_size=70),
            st.sampled_from(schema.get("enum", ["latest", "1", "0"])),
            st.text(alphabet=string.digits, min_size=1, max_size=25),
            mutated_tx(),
        ]
    return st.one_of(options)


@st.composite
def json_body(draw: st.DrawFn, schema: dict[str, Any]) -> Any:
    if draw(st.integers(0, 4)) == 0:
        return draw(JSON_VALUES)
    body = {}
    for name, prop in schema.get("properties", {}).items():
        if name in schema.get("required", []) or draw(st.booleans()):
            body[name] = draw(from_schema(prop))
    if draw(st.integers(0, 5)) == 0:
        body[draw(st.text(max_size=8))] = draw(JSON_SCALARS)
    return body


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return doc["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


@st.composite
def requests(
    draw: st.DrawFn, doc: dict[str, Any], known: tuple[str, ...] = ()
) -> tuple[str, str, dict[str, Any]]:
    """(method, path with query, httpx keyword arguments) for one operation of `doc`."""
    operations = sorted((p, m) for p, ms in doc["paths"].items() for m in ms)
    path, method = draw(st.sampled_from(operations))
    op = doc["paths"][path][method]
    query = {}
    for param in op.get("parameters", []):
        value = draw(from_schema(param.get("schema", {}), known))
        text = value if isinstance(value, str) else json.dumps(value)
        if param["in"] == "path":
            path = path.replace("{" + param["name"] + "}", quote(text, safe="") or "x")
        elif draw(st.booleans()):
            query[param["name"]] = text
    if query:
        path += "?" + urlencode(query)
    kwargs: dict[str, Any] = {}
    if "requestBody" in op:
        content = op["requestBody"]["content"]["application/json"]
        if "application/msgpack" in op["requestBody"]["content"] and draw(st.booleans()):
            kwargs["content"] = draw(msgpack_body())
            kwargs["headers"] = {"content-type": "application/msgpack"}
        elif draw(st.integers(0, 6)) == 0:
            kwargs["content"] = draw(st.binary(max_size=64))
            kwargs["headers"] = {"content-type": "application/json"}
        else:
            kwargs["json"] = draw(json_body(resolve(doc, content["schema"])))
    return method.upper(), path, kwargs


@st.composite
def msgpack_body(draw: st.DrawFn) -> bytes:
    """Arrays of (mostly) bin, other msgpack values, truncated or extended ones, raw junk."""
    tx = mutated_tx().map(bytes.fromhex)
    element = st.one_of(tx, tx, tx, MSGPACK_VALUES)
    value = draw(st.one_of(st.lists(tx, min_size=1, max_size=6), st.lists(element), MSGPACK_VALUES))
    data = msgpack.packb(value)
    choice = draw(st.integers(0, 5))
    if choice == 0:
        return data[: draw(st.integers(0, len(data)))]
    if choice == 1:
        return data + draw(st.binary(min_size=1, max_size=8))
    if choice == 2:
        return draw(st.binary(max_size=64))
    return data


async def check_one(client: httpx.AsyncClient, method: str, path: str, kw: dict[str, Any]) -> None:
    async with client.stream(method, path, **kw) as response:
        assert response.status_code < 500, (method, path, kw, response.status_code)
        content_type = response.headers.get("content-type", "")
        if content_type.startswith("text/event-stream") or path.startswith("/metrics"):
            return  # an open event stream: the status line is what we check
        if content_type == "application/msgpack":
            assert response.status_code == 200, (method, path, response.status_code)
            assert isinstance(msgpack.unpackb(await response.aread()), dict), (method, path)
            return
        if content_type == "application/octet-stream":  # a receipt
            assert response.status_code == 200, (method, path, response.status_code)
            decode_receipt(await response.aread())
            return
        body = json.loads(await response.aread())
        assert isinstance(body, dict), (method, path, body)
        if response.status_code >= 400 and response.status_code != 422:
            assert set(body["error"]) == {"code", "message"}


async def openapi(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    assert doc["paths"], "the OpenAPI document lists no paths"
    return doc


FUZZ_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


async def test_fuzz_from_openapi_finds_no_5xx(nursery: trio.Nursery) -> None:
    chain = FakeChain()
    tx_id = chain.submit(VALID_TX).tx_id
    chain.commit()
    limits = ApiLimits(rate_per_s=1e6, burst=10**6, max_body_bytes=4096)
    url = await serve_node(nursery, FakeNode(chain), limits=limits)
    known = (ALICE.public_key.hex(), COMPLIANCE.public_key.hex(), tx_id.hex(), "1", "2")
    seen = await fuzz_api(url, known)
    assert {"txs", "accounts", "blocks", "status", "validators", "events"} <= seen


async def fuzz_api(url: str, known: tuple[str, ...] = ()) -> set[str]:
    """Run the fuzz against the API at `url`; the first path segments it exercised.

    Hypothesis drives from a worker thread (its engine is synchronous); each example hops back
    into this trio loop to make its request, so the server under test keeps running here."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        doc = await openapi(client)
        seen: set[str] = set()

        @FUZZ_SETTINGS
        @given(request=requests(doc, known))
        def one(request: tuple[str, str, dict[str, Any]]) -> None:
            method, path, kw = request
            seen.add(path.split("/")[1].split("?")[0])
            trio.from_thread.run(check_one, client, method, path, kw)

        await trio.to_thread.run_sync(one)
        return seen
