"""redis-py with ssl=True against a running Larder node's TLS port (mutual TLS required).

    python redis_py_tls.py TLS_PORT PLAIN_PORT CA CLIENT_CERT CLIENT_KEY OTHER_CA USER PASSWORD

In RESP2 and RESP3: a client that trusts the node's CA and shows a client certificate logs in as
USER with PASSWORD, writes and reads; the write is seen through the plain port. A client that
trusts another CA fails the handshake; a client without a certificate is refused by the node;
a wrong password or none over TLS is an authentication error. Exits non-zero with the failed assertion on any difference.
"""

import ssl
import sys

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

tls_port, plain_port = int(sys.argv[1]), int(sys.argv[2])
ca, client_cert, client_key, other_ca = sys.argv[3:7]
user, password = sys.argv[7], sys.argv[8]


def tls(protocol: int, **extra) -> redis.Redis:
    options = dict(
        host="127.0.0.1",
        port=tls_port,
        ssl=True,
        ssl_ca_certs=ca,
        ssl_certfile=client_cert,
        ssl_keyfile=client_key,
        ssl_cert_reqs="required",
        protocol=protocol,
        socket_timeout=10,
        # A refusal is the answer under test, not a fault to retry.
        retry=Retry(NoBackoff(), 0),
        decode_responses=True,
    )
    options.update(extra)
    return redis.Redis(**options)


def refused(client: redis.Redis, what: str) -> None:
    try:
        client.ping()
    except redis.exceptions.AuthenticationError as e:
        # A subclass of ConnectionError, but it means the handshake passed.
        raise AssertionError(f"{what}: the handshake passed ({e})") from e
    except (redis.exceptions.ConnectionError, ssl.SSLError, OSError):
        return
    raise AssertionError(f"{what}: the connection was not refused")


for protocol in (2, 3):
    r = tls(protocol, username=user, password=password)
    assert r.ping() is True
    key = f"py:tls:{protocol}"
    assert r.set(key, f"over TLS, RESP{protocol}") is True
    assert r.get(key) == f"over TLS, RESP{protocol}"
    assert r.incr(f"{key}:n", 5) == 5
    assert r.connection_pool.get_connection().__class__.__name__ == "SSLConnection"

    plain = redis.Redis(
        host="127.0.0.1",
        port=plain_port,
        username=user,
        password=password,
        protocol=protocol,
        decode_responses=True,
    )
    assert plain.get(key) == f"over TLS, RESP{protocol}", "the plain port is the same server"

    login = dict(username=user, password=password)
    refused(tls(protocol, ssl_ca_certs=other_ca, **login), "a client trusting another CA")
    refused(
        tls(protocol, ssl_certfile=None, ssl_keyfile=None, **login),
        "a client without a certificate",
    )

    try:
        tls(protocol, username=user, password="not the password").ping()
        raise AssertionError("a wrong password was accepted")
    except redis.exceptions.AuthenticationError:
        pass

    # Right certificates, no credentials: refused as Redis refuses it.
    try:
        tls(protocol).get(key)
        raise AssertionError("a command without credentials was served")
    except redis.exceptions.AuthenticationError:
        pass
    print(f"RESP{protocol}: TLS ok")
