#!/usr/bin/env python3
"""The stack the browser test drives (tests/browser/run.js starts it).

It reuses the end-to-end harness (tests/e2e/harness.py): Redis on a free port,
the embedded Kafka broker (`mosync dev-broker`), both simulators, one registry
tenant added with `mosync tenant add`, one open dead letter of that tenant (an
order the warehouse refuses, polled and applied once), and `mosync admin`
with ADMIN_PASSWORD and MOSYNC_SECRET_KEY.

Once everything is up it prints one JSON line on stdout:
    {"admin": "http://127.0.0.1:N", "password": "...", "tenant": "shop1",
     "letter": "<dead letter id>", "workdir": "..."}
then answers one request per stdin line, each with one JSON line, so the
browser test can check what the page says against the registry itself:
    state <tenant>     {"state": "active"}
    letters <tenant>   {"letters": [{"id": ..., "state": ...}, ...]}
It tears everything down on end of input or on SIGTERM/SIGINT.
"""
import json
import os
import random
import signal
import string
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

from harness import check, env_for, eq  # noqa: E402
from seedgen import make_seed  # noqa: E402
from test_admin import Admin, _letters, _state  # noqa: E402
from test_ops_dlq import refuse_order  # noqa: E402
from test_tenants import _process_env, _settings, _tenant  # noqa: E402

TENANT = "shop1"


class _Stop(Exception):
    pass


def _stop(signum, frame):
    # Unwinds to main(), then through env_for, which stops every process it
    # started (and removes its work directory: a stop is not a failure).
    raise _Stop()


def _dead_letter(env):
    """One of the tenant's orders refused by the warehouse for good."""
    seed_orders = sorted(o["id"] for o in env.seed["orders"])
    refuse_order(env, seed_orders[0])
    pe = _process_env(env)
    env.run(["poll", "mystore-orders", "--once", "--tenant", TENANT], extra_env=pe)
    _, s, _ = env.run(["apply", "orders", "--once", "--idle-ms", "2500", "--tenant", TENANT],
                      extra_env=pe)
    eq(s["dead_lettered"], 1, "orders dead-lettered for the browser test")
    # The warehouse takes it again: a re-drive from the page would succeed.
    env.ongoing.call("DELETE", "/_sim/fault")
    open_ = [l for l in _letters(env, TENANT) if l["state"] == "open"]
    check(len(open_) == 1, "one open dead letter: %r" % open_)
    return open_[0]["id"]


def _serve(env):
    for line in sys.stdin:
        words = line.split()
        if len(words) == 2 and words[0] == "state":
            out = {"state": _state(env, words[1])}
        elif len(words) == 2 and words[0] == "letters":
            out = {"letters": [{"id": l["id"], "state": l["state"]}
                               for l in _letters(env, words[1])]}
        else:
            out = {"error": "unknown request %r" % line.strip()}
        print(json.dumps(out), flush=True)


def main():
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    rng = random.SystemRandom()
    password = "PW" + "".join(rng.choice(string.ascii_uppercase + string.digits)
                              for _ in range(18))
    seed = make_seed(orders=4, products=6, seed=141)
    with env_for("browser", seed) as env:
        env.seed = seed
        _tenant(env, ["add", TENANT], stdin=_settings(env))
        letter = _dead_letter(env)
        admin = Admin(env, password)
        print(json.dumps({"admin": admin.base, "password": password, "tenant": TENANT,
                          "letter": letter, "workdir": env.workdir}), flush=True)
        try:
            _serve(env)
        except _Stop:
            pass


if __name__ == "__main__":
    main()
