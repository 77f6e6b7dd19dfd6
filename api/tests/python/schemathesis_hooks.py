"""Schemathesis hooks for the run against a test node (see ``schemathesis.toml`` beside this file).

The OpenAPI document states every per-field limit the server enforces, so schemathesis draws
requests from it unaided. A few rules are between fields or depend on what the node holds, and
JSON Schema cannot state them; the document says them in prose, and these hooks apply them to the
requests schemathesis means to be valid (positive mode), so such a request is not "rejected valid
data" for breaking a rule the schema cannot carry. Requests meant to be invalid are left alone.

- ``ttl`` excludes ``ttl_ms``; ``keepttl=true`` excludes both; ``nx`` excludes ``xx``; an expire
  names a TTL (query parameters cannot be constrained together in OpenAPI).
- a namespace's capacity holds one max-size item per shard (arithmetic between fields); a live
  namespace keeps its shard count.
- an experiment's weights divide the namespace's shards, two arms per shard at least; arm and
  candidate names are distinct (uniqueness by one property).
- references name what exists: the test node has no plugins (``plugin:<id>``), no origin server to
  read through (an unreachable origin answers 502 by design), and only the tenants the run makes;
  an alert rule's namespace exists.
- a tenant's quota leaves room for its default namespace; ``ops_burst`` needs ``ops_per_second``.
"""

import base64
import os

import requests
import schemathesis

# The smallest capacity whose derived max item size (a quarter of one shard, less 56 bytes of
# per-entry overhead) is the 1024 bytes a namespace without max_item_size must allow.
ENTRY_OVERHEAD = 56
MIN_DERIVED_ITEM = 1024
DEFAULT_CAPACITY = 256 * 1024 * 1024
DEFAULT_ITEM = 1024 * 1024
MIN_TENANT_CAPACITY = 4 * (MIN_DERIVED_ITEM + ENTRY_OVERHEAD)
# The namespace every node has, with its default 16 shards (a live namespace keeps its count).
DEFAULT_NAMESPACE = "default"


def _positive(case):
    meta = case.meta
    return meta is None or meta.generation.mode.is_positive


def _label(case):
    return case.operation.label


def _base_url(case):
    return os.environ.get("LARDER_TEST_BASE_URL") or case.operation.base_url


def _headers():
    token = os.environ.get("LARDER_TEST_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def _strip_references(value, key=None):
    """No plugins on the test node: an eviction plugin becomes a built-in, other hooks go."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(v, str) and v.startswith("plugin:"):
                if k == "eviction":
                    out[k] = "lru"
                continue
            if k == "origin":
                continue
            out[k] = _strip_references(v, k)
        return out
    if isinstance(value, list):
        return [_strip_references(v) for v in value]
    return value


def _shard_count(config):
    shards = config.get("shards")
    if shards is not None:
        return shards
    capacity = config.get("capacity_bytes", DEFAULT_CAPACITY)
    item = config.get("max_item_size") or DEFAULT_ITEM
    n = 16
    while n > 1 and capacity // n // 4 < item + ENTRY_OVERHEAD:
        n //= 2
    return n


def _valid_new(config):
    """`NamespaceConfig::validate` for a namespace being created."""
    capacity = config.get("capacity_bytes", DEFAULT_CAPACITY)
    per_shard = capacity // _shard_count(config)
    item = config.get("max_item_size")
    if item is None:
        item = max(1, min(per_shard // 4 - ENTRY_OVERHEAD, DEFAULT_ITEM))
        if item < MIN_DERIVED_ITEM:
            return False
    return per_shard >= item + ENTRY_OVERHEAD


def _valid_live(config):
    """The same for a live namespace of up to 1024 shards, whose max item size, when omitted, is
    derived from its own shard count."""
    per_shard = config.get("capacity_bytes", DEFAULT_CAPACITY) // 1024
    item = config.get("max_item_size")
    return per_shard >= (1 if item is None else item) + ENTRY_OVERHEAD


def _consistent_config(config, live):
    """`config`, less the fields that make its capacity too small for its items."""
    config = dict(config)
    if live:
        # Fixed once the namespace exists.
        config.pop("shards", None)
        config.pop("routing", None)
    valid = _valid_live if live else _valid_new
    for field in (None, "max_item_size", "shards", "capacity_bytes"):
        if field:
            config.pop(field, None)
        if valid(config):
            break
    return config


def _distinct_names(items):
    seen = set()
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            out.append(item)
            continue
        item = dict(item)
        name = item.get("name")
        if isinstance(name, str) and name in seen:
            item["name"] = f"{name[:56]}-{i}"
        seen.add(item.get("name"))
        out.append(item)
    return out


def _repair_query(label, query):
    query = dict(query or {})
    present = lambda k: query.get(k) not in (None, "")  # noqa: E731
    if present("ttl") and present("ttl_ms"):
        query.pop("ttl_ms")
    if label.startswith("PUT ") and label.endswith("/keys/{key}"):
        if query.get("keepttl") in (True, "true") and (present("ttl") or present("ttl_ms")):
            query["keepttl"] = False
        if query.get("nx") in (True, "true") and query.get("xx") in (True, "true"):
            query["xx"] = False
    if label.endswith("/expire") and not (present("ttl") or present("ttl_ms")):
        query["ttl"] = 60
    return query


def _promotable_arm(case):
    """The first arm of the experiment running on the case's namespace, if any."""
    ns = case.path_parameters.get("ns")
    try:
        report = requests.get(
            f"{_base_url(case)}/v1/namespaces/{requests.utils.quote(ns, safe='')}/experiment",
            headers=_headers(),
            timeout=10,
        )
    except requests.RequestException:
        return None
    if report.status_code != 200:
        return None
    arms = report.json().get("arms") or []
    return arms[0]["name"] if arms else None


def _base64(text):
    return base64.b64encode(text.encode("utf-8", "surrogatepass")).decode("ascii")


def _encode_batch(body):
    """With `encoding: base64`, keys and values are base64 text: encode what was drawn."""
    if body.get("encoding") != "base64":
        return body
    body = dict(body)
    if isinstance(body.get("keys"), list):
        body["keys"] = [_base64(k) if isinstance(k, str) else k for k in body["keys"]]
    if isinstance(body.get("items"), list):
        items = []
        for item in body["items"]:
            if isinstance(item, dict):
                item = dict(item)
                for field in ("key", "value"):
                    if isinstance(item.get(field), str):
                        item[field] = _base64(item[field])
            items.append(item)
        body["items"] = items
    return body


@schemathesis.hook
def before_add_examples(context, examples):
    # The examples phase builds its cases from the document's examples, past `map_case`.
    for i, case in enumerate(examples):
        examples[i] = map_case(context, case)


@schemathesis.hook
def map_case(context, case):
    if not _positive(case):
        return case
    label = _label(case)
    if case.query is not None or label.endswith(("/keys/{key}", "/expire", "/touch")):
        case.query = _repair_query(label, case.query)
    body = case.body
    if isinstance(body, (dict, list)):
        body = _strip_references(body)
    if label == "POST /v1/namespaces" and isinstance(body, dict):
        if isinstance(body.get("name"), str) and "/" in body["name"]:
            body["name"] = body["name"].split("/", 1)[1]
        if isinstance(body.get("config"), dict):
            body["config"] = _consistent_config(body["config"], live=False)
    elif label == "PUT /v1/namespaces/{ns}" and isinstance(body, dict):
        body = _consistent_config(body, live=True)
    elif "/experiment" in label or "/shadow" in label:
        # Experiments need shards to split: `default` keeps its 16.
        case.path_parameters = {**case.path_parameters, "ns": DEFAULT_NAMESPACE}
        if label == "PUT /v1/namespaces/{ns}/experiment" and isinstance(body, dict):
            arms = [dict(a) for a in _distinct_names(body.get("arms") or []) if isinstance(a, dict)]
            for arm in arms:
                arm["weight"] = 1
            count = max(n for n in (2, 4, 8) if n <= max(len(arms), 2))
            body["arms"] = arms[:count]
        elif label == "PUT /v1/namespaces/{ns}/shadow" and isinstance(body, dict):
            body["candidates"] = _distinct_names(body.get("candidates") or [])
        elif label == "POST /v1/namespaces/{ns}/experiment/promote":
            arm = _promotable_arm(case)
            body = {"arm": arm} if arm else body
    elif "/batch/" in label and isinstance(body, dict):
        body = _encode_batch(body)
        if isinstance(body.get("items"), list):
            body["items"] = [
                {k: v for k, v in item.items() if not (k == "ttl_ms" and item.get("ttl") is not None)}
                if isinstance(item, dict)
                else item
                for item in body["items"]
            ]
    elif label == "POST /v1/alerts/rules" and isinstance(body, dict):
        if body.get("namespace") is not None:
            body["namespace"] = DEFAULT_NAMESPACE
        if body.get("webhook") is not None:
            # A receiver nobody listens on: delivery fails and is counted, nothing else.
            body["webhook"] = "http://127.0.0.1:9/alerts"
    elif label == "POST /v1/api-keys" and isinstance(body, dict):
        body.pop("tenant", None)
    elif label in ("POST /v1/tenants", "PUT /v1/tenants/{name}") and isinstance(body, dict):
        quotas = body.get("quotas")
        if isinstance(quotas, dict):
            quotas = dict(quotas)
            if quotas.get("ops_per_second") is None:
                quotas.pop("ops_burst", None)
            if label == "POST /v1/tenants":
                cap = quotas.get("max_capacity_bytes")
                if isinstance(cap, (int, float)) and cap < MIN_TENANT_CAPACITY:
                    quotas["max_capacity_bytes"] = MIN_TENANT_CAPACITY
            body["quotas"] = quotas
    case.body = body
    return case
