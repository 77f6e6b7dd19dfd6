"""redis-py's own client-side cache (RESP3, CLIENT TRACKING) against a running Larder node.

    python redis_py_client_cache.py PORT

redis-py turns its cache on only for a server that says, in HELLO, that it is Redis 7.4 or
later, and raises ConnectionError otherwise; so connecting at all checks the version claim. Then:
a read after the first is answered from the local cache (the server sees no second read: its
keyspace_hits stay put), and a write, a delete, an expiry or an eviction by the namespace's
policy — each caused through another connection or by the server itself — invalidates the
cached copy, so the next read goes to the server and sees the change. Exits non-zero with the
failed assertion on any difference.
"""

import sys
import time

import redis
from redis.cache import CacheConfig


def hits(admin: redis.Redis) -> int:
    return int(admin.info("stats")["keyspace_hits"])


def eventually_fresh(read, expected, what: str) -> None:
    """The invalidation is a push message: redis-py applies it before its next command, once it
    has arrived. Poll briefly for it; the cached value must not outlive it."""
    deadline = time.time() + 5
    while time.time() < deadline:
        got = read()
        if got == expected:
            return
        time.sleep(0.02)
    raise AssertionError(f"{what}: still {read()!r}, expected {expected!r}")


def main(port: int) -> None:
    cached = redis.Redis(
        host="127.0.0.1", port=port, protocol=3, cache_config=CacheConfig(), db=1,
        decode_responses=True,
    )
    other = redis.Redis(host="127.0.0.1", port=port, protocol=3, db=1, decode_responses=True)
    cached.ping()  # connects: redis-py checked the server's name and version here
    other.flushdb()
    cache = cached.get_cache()
    assert cache is not None, "redis-py did not turn its client-side cache on"

    # Repeated reads hit the local cache: the server serves the first one only.
    other.set("user:1", "ann")
    other.hset("session:1", mapping={"user": "ann", "cart": "3"})
    assert cached.get("user:1") == "ann"
    assert cached.hgetall("session:1") == {"user": "ann", "cart": "3"}
    before = hits(other)
    for _ in range(20):
        assert cached.get("user:1") == "ann"
        assert cached.hgetall("session:1") == {"user": "ann", "cart": "3"}
    assert hits(other) == before, f"reads reached the server: {hits(other) - before} hits"
    assert cache.size >= 2, f"cache holds {cache.size} entries"

    # A write through another connection invalidates the copy.
    other.set("user:1", "bob")
    eventually_fresh(lambda: cached.get("user:1"), "bob", "after SET elsewhere")
    other.hset("session:1", "cart", "4")
    eventually_fresh(lambda: cached.hgetall("session:1"), {"user": "ann", "cart": "4"},
                     "after HSET elsewhere")

    # A delete, and an expiry the server carries out on its own.
    other.delete("user:1")
    eventually_fresh(lambda: cached.get("user:1"), None, "after DEL elsewhere")
    other.set("short", "lived", px=200)
    assert cached.get("short") == "lived"
    assert cached.get("short") == "lived"
    time.sleep(0.3)
    eventually_fresh(lambda: cached.get("short"), None, "after expiry")

    # An eviction by the namespace's policy: fill a small LRU namespace until the cached key,
    # read once by the server, is the least recently used.
    other.config_set("maxmemory", "20mb")
    other.config_set("maxmemory-policy", "allkeys-lru")
    other.set("victim", "v")
    assert cached.get("victim") == "v"
    assert cached.get("victim") == "v"
    filler = "x" * 10_000
    pipe = other.pipeline(transaction=False)
    for i in range(4000):
        pipe.set(f"filler:{i}", filler)
    pipe.execute()
    assert other.exists("victim") == 0, "the policy did not evict the cached key"
    eventually_fresh(lambda: cached.get("victim"), None, "after eviction")

    print("client-side cache ok")


if __name__ == "__main__":
    main(int(sys.argv[1]))
