"""Every collection family through redis-py's own typed API, against a running Larder node.

    python redis_py_families.py PORT PROTOCOL   (PROTOCOL: 2 or 3)

redis-py parses each reply into Python types (dicts for HGETALL, sets for SMEMBERS, floats for
scores, (member, score) tuples for WITHSCORES), differently for RESP2 and RESP3; so this checks
that Larder's replies have the shape a real client expects in both protocols. Exits non-zero
with the failed assertion on any difference.
"""

import sys

import redis


def pairs(reply) -> list:
    """(member, score) pairs from a WITHSCORES-style reply: redis-py gives tuples in RESP2 and
    the server's own [member, score] arrays in RESP3 (a flat pair for ZPOPMIN/MAX without count)."""
    if len(reply) == 2 and not isinstance(reply[0], (list, tuple)):
        return [tuple(reply)]
    return [tuple(p) for p in reply]


def main(port: int, protocol: int) -> None:
    r = redis.Redis(host="127.0.0.1", port=port, protocol=protocol, decode_responses=True)
    assert r.ping()
    r.flushdb()

    # Hashes: a session object.
    assert r.hset("session:1", mapping={"user": "ann", "cart": "3", "seen": "1"}) == 3
    assert r.hget("session:1", "user") == "ann"
    assert r.hgetall("session:1") == {"user": "ann", "cart": "3", "seen": "1"}
    assert r.hincrby("session:1", "cart", 2) == 5
    assert r.hincrbyfloat("session:1", "seen", 0.5) == 1.5
    assert r.hmget("session:1", ["user", "nope"]) == ["ann", None]
    assert sorted(r.hkeys("session:1")) == ["cart", "seen", "user"]
    assert r.hlen("session:1") == 3
    assert r.hexists("session:1", "user") and not r.hexists("session:1", "x")
    assert r.hdel("session:1", "seen", "x") == 1
    cursor, fields = r.hscan("session:1", 0, match="u*")
    assert cursor == 0 and fields == {"user": "ann"}
    assert r.hexpire("session:1", 60, "cart") == [1]
    ttl = r.httl("session:1", "cart", "user")
    assert 0 < ttl[0] <= 60 and ttl[1] == -1, ttl
    assert r.hpersist("session:1", "cart") == [1]
    assert r.type("session:1") == "hash"

    # Lists: a recent-items feed, capped.
    for i in range(10):
        r.lpush("feed", f"item{i}")
        r.ltrim("feed", 0, 4)
    assert r.lrange("feed", 0, -1) == [f"item{i}" for i in range(9, 4, -1)]
    assert r.llen("feed") == 5
    assert r.rpop("feed") == "item5"
    assert r.lpop("feed", 2) == ["item9", "item8"]
    assert r.lindex("feed", 0) == "item7"
    assert r.lpos("feed", "item6") == 1
    assert r.lmove("feed", "done", "LEFT", "RIGHT") == "item7"
    assert r.lrange("done", 0, -1) == ["item7"]
    assert r.linsert("feed", "BEFORE", "item6", "new") == 2
    assert r.lrem("feed", 0, "new") == 1

    # Sets: tags for invalidating a group of keys.
    assert r.sadd("tag:red", "p1", "p2", "p3") == 3
    assert r.sadd("tag:big", "p2", "p3", "p4") == 3
    assert r.smembers("tag:red") == {"p1", "p2", "p3"}
    assert r.sinter("tag:red", "tag:big") == {"p2", "p3"}
    assert r.sunion("tag:red", "tag:big") == {"p1", "p2", "p3", "p4"}
    assert r.sdiff("tag:red", "tag:big") == {"p1"}
    assert r.sinterstore("tag:both", ["tag:red", "tag:big"]) == 2
    assert r.scard("tag:both") == 2
    assert r.sismember("tag:red", "p1") and not r.sismember("tag:red", "p9")
    assert r.smismember("tag:red", ["p1", "p9"]) == [1, 0]
    assert r.smove("tag:red", "tag:big", "p1")
    assert r.srem("tag:big", "p1") == 1
    assert r.spop("tag:both") in {"p2", "p3"}
    assert r.srandmember("tag:big") in {"p2", "p3", "p4"}
    assert r.sintercard(2, ["tag:red", "tag:big"]) == 2

    # Sorted sets: a sliding-window rate limiter and a leaderboard.
    now = 1_000_000
    for i in range(5):
        r.zadd("window:ann", {f"req{i}": now + i * 10})
    assert r.zremrangebyscore("window:ann", "-inf", now + 15) == 2
    assert r.zcard("window:ann") == 3
    r.zadd("board", {"ann": 10, "bob": 20.5, "cy": 15})
    assert pairs(r.zrange("board", 0, -1, withscores=True)) == [
        ("ann", 10.0),
        ("cy", 15.0),
        ("bob", 20.5),
    ]
    assert r.zrevrange("board", 0, 0) == ["bob"]
    assert r.zscore("board", "bob") == 20.5
    assert r.zincrby("board", 10, "ann") == 20.0
    assert r.zrank("board", "ann") == 1 and r.zrevrank("board", "ann") == 1
    assert r.zrangebyscore("board", "(15", "+inf") == ["ann", "bob"]
    assert r.zrange("board", "+inf", "-inf", byscore=True, desc=True, offset=0, num=1) == ["bob"]
    assert r.zcount("board", 15, 20) == 2
    assert r.zmscore("board", ["ann", "nobody"]) == [20.0, None]
    assert r.zadd("board", {"cy": 5}, gt=True, ch=True) == 0
    assert r.zadd("board", {"cy": 50}, gt=True, ch=True) == 1
    assert pairs(r.zpopmax("board")) == [("cy", 50.0)]
    assert pairs(r.zpopmin("board", 2)) == [("ann", 20.0), ("bob", 20.5)]
    r.zadd("names", {"a": 0, "b": 0, "c": 0})
    assert r.zrangebylex("names", "[b", "+") == ["b", "c"]

    # Kinds keep to themselves.
    try:
        r.get("board" if r.exists("board") else "tag:big")
    except redis.ResponseError as e:
        assert str(e).startswith("WRONGTYPE"), e
    else:
        raise AssertionError("GET on a collection must fail with WRONGTYPE")
    print(f"redis-py {redis.__version__}, RESP{protocol}: every family ok")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
