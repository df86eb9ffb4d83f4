"""The suites check themselves (issue 12 items 21 and 22).

Item 21: a wait fails at once, naming the process, how it ended and the tail
of its log, when the broker, Redis or a simulator the test started dies, and
never when a test stops one on purpose.

Item 22: every event the harness reads from a pipeline topic, and every dead
letter's headers, are checked against schemas/; a foreign producer's event
that breaks its schema fails the read, naming the event and the schema path.
"""
import base64
import ctypes
import json
import os
import signal
import subprocess

import harness
from harness import (TENANT, TestFailure, check, dlq_messages, env_for, eq, only_on_mock,
                     topic_messages, wait_until)
from seedgen import make_seed


def dies_on_third_look(kill):
    """A wait condition that is never true and kills a process (and waits until
    it is gone) the third time it is looked at: the death happens in the middle
    of a wait_until, at no particular moment in time."""
    looks = [0]

    def pred():
        looks[0] += 1
        if looks[0] == 3:
            kill()
        return False
    return pred


def kill_and_reap(proc, sig):
    proc.send_signal(sig)
    proc.wait(30)


def event_of(m):
    """The event a message of `mosync tail` carries."""
    return json.loads(base64.b64decode(m["value_base64"]))


def expect_infra_failure(pred, *words):
    """wait_until(pred) with a bound far above what noticing takes must end in
    a failure that names the dead process (each of words), not in a time-out."""
    try:
        wait_until(pred, 20, "a condition that never comes")
    except TestFailure as e:
        msg = str(e)
        check("timed out" not in msg, "the wait ran out its bound instead of noticing: %s" % msg)
        for w in words:
            check(w in msg, "the failure names %r: %s" % (w, msg))
        return msg
    raise TestFailure("the wait ended without a failure")


def test_issue12_21_a_dead_embedded_broker_fails_the_wait_at_once():
    """The mock cluster dying on its own assertion (SIGABRT) in the middle of a
    wait, and a mosync command then run against it, both fail at once."""
    only_on_mock("kills the test's own dev-broker")
    with env_for("infra_broker", make_seed(orders=3, products=2, seed=3)) as env:
        env.poll_orders()
        broker = env.kafka.proc
        msg = expect_infra_failure(dies_on_third_look(lambda: kill_and_reap(broker, signal.SIGABRT)),
                                   "embedded Kafka broker", "pid %d" % broker.pid, "SIGABRT",
                                   os.path.join(env.workdir, "dev-broker.log"))
        # A command that would wait for the broker is ended, not waited for: a
        # long-running poller, which never ends by itself.
        try:
            env.run(["poll", "mystore-orders"], timeout=60)
        except TestFailure as e:
            check("embedded Kafka broker" in str(e) and "mosync poll mystore-orders" in str(e),
                  "the failure names the broker and the command: %s" % e)
        except subprocess.TimeoutExpired:
            raise TestFailure("mosync poll ran 60 s against a dead broker without a failure")
        else:
            raise TestFailure("mosync poll ended against a dead broker without a failure")
        check("last lines of" in msg, "the tail of the broker's log: %s" % msg)


def test_issue12_21_a_dead_simulator_fails_the_wait_at_once():
    """The Ongoing simulator killed while a test waits on its answers."""
    with env_for("infra_sim", make_seed(orders=2, products=2, seed=4)) as env:
        sim = env.ongoing

        def pred():
            return len(sim.orders()) > 100  # never: nothing was applied
        kill = dies_on_third_look(lambda: kill_and_reap(sim.proc, signal.SIGKILL))
        msg = expect_infra_failure(lambda: kill() or pred(), "ongoing-sim simulator",
                                   "SIGKILL", os.path.join(env.workdir, "ongoing-sim.log"))
        # The log tail is the simulator's own request log.
        check("GET /_sim/orders" in msg, "the simulator's last log lines: %s" % msg)


def test_issue12_21_a_dead_redis_fails_the_wait_but_a_stopped_one_does_not():
    """Tests stop and start Redis on purpose: that is no failure.  Redis killed
    behind the harness's back is one, named, with its log."""
    with env_for("infra_redis", make_seed(orders=2, products=2, seed=5)) as env:
        env.redis.stop()
        try:
            wait_until(lambda: False, 1, "nothing, with Redis stopped on purpose")
        except TestFailure as e:
            check("timed out" in str(e) and "is gone" not in str(e),
                  "a plain time-out, a deliberate stop is no death: %s" % e)
        env.redis.start()
        eq(env.redis.cmd("SET", "k", "v"), "OK", "Redis answers after its restart")
        proc = env.redis.proc
        expect_infra_failure(dies_on_third_look(lambda: kill_and_reap(proc, signal.SIGKILL)),
                             "redis-server on port %d" % env.redis.port, "SIGKILL",
                             os.path.join(env.workdir, "redis", "redis.log"))
        # A Redis command fails with the same words instead of "connection refused".
        try:
            env.redis.cmd("PING")
        except TestFailure as e:
            check("redis-server" in str(e) and "SIGKILL" in str(e), "named: %s" % e)
        except OSError as e:
            raise TestFailure("a bare socket error instead of naming the dead Redis: %s" % e)
        else:
            raise TestFailure("PING answered by a dead Redis")


def test_issue12_21_a_dead_real_broker_fails_the_wait_at_once():
    """The real broker (watched through its pid file, it is not our child):
    its own broker here, so the run's shared one is left alone."""
    if os.environ.get("MOSYNC_TEST_KAFKA", "mock") != "real":
        raise harness.Skip("starts an Apache Kafka broker: runs with --kafka real")
    with env_for("infra_real", make_seed(orders=2, products=2, seed=6)) as env:
        kdir = os.path.join(env.workdir, "kafka")
        kafka = os.path.join(harness.ROOT, "tests", "kafka")
        subprocess.run([os.path.join(kafka, "start"), kdir], stdout=subprocess.DEVNULL, check=True)
        broker = harness.RealBroker(kdir)
        harness.watch(broker)
        try:
            broker.stopped = True  # a restart on purpose, as the chaos suite does
            subprocess.run([os.path.join(kafka, "stop"), kdir], check=True)
            try:
                wait_until(lambda: False, 1, "nothing, with the broker stopped on purpose")
            except harness.InfraDied as e:
                raise TestFailure("a deliberate stop counted as a death: %s" % e)
            except TestFailure:
                pass
            subprocess.run([os.path.join(kafka, "start"), kdir], stdout=subprocess.DEVNULL,
                           check=True)
            broker.stopped = False
            pid = broker.pid()
            expect_infra_failure(dies_on_third_look(lambda: os.kill(pid, signal.SIGKILL) or
                                                    wait_until(lambda: not harness.pid_alive(pid),
                                                               30, "the broker to die")),
                                 "Apache Kafka broker", "pid %d" % pid, "kafka.log")
        finally:
            harness.unwatch(broker)
            subprocess.run([os.path.join(kafka, "stop"), kdir])


# ---- item 22 -----------------------------------------------------------------

def produce_raw(env, topic_base, key, value):
    """Writes one message to a topic as a foreign producer would (kcat, another
    team's service): librdkafka through ctypes, no mosync code involved."""
    rk_lib = ctypes.CDLL("librdkafka.so.1")
    rk_lib.rd_kafka_conf_new.restype = ctypes.c_void_p
    rk_lib.rd_kafka_conf_set.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
                                         ctypes.c_char_p, ctypes.c_size_t]
    rk_lib.rd_kafka_new.restype = ctypes.c_void_p
    rk_lib.rd_kafka_new.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p,
                                    ctypes.c_size_t]
    rk_lib.rd_kafka_topic_new.restype = ctypes.c_void_p
    rk_lib.rd_kafka_topic_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    rk_lib.rd_kafka_produce.argtypes = [ctypes.c_void_p, ctypes.c_int32, ctypes.c_int,
                                        ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                                        ctypes.c_size_t, ctypes.c_void_p]
    rk_lib.rd_kafka_flush.argtypes = [ctypes.c_void_p, ctypes.c_int]
    rk_lib.rd_kafka_outq_len.argtypes = [ctypes.c_void_p]
    rk_lib.rd_kafka_topic_destroy.argtypes = [ctypes.c_void_p]
    rk_lib.rd_kafka_destroy.argtypes = [ctypes.c_void_p]
    err = ctypes.create_string_buffer(512)
    conf = rk_lib.rd_kafka_conf_new()
    for k, v in (("bootstrap.servers", env.kafka.bootstrap), ("acks", "all")):
        eq(rk_lib.rd_kafka_conf_set(conf, k.encode(), v.encode(), err, 512), 0, "conf " + k)
    rk = rk_lib.rd_kafka_new(0, conf, err, 512)  # RD_KAFKA_PRODUCER
    check(rk, "rd_kafka_new: %s" % err.value)
    rkt = rk_lib.rd_kafka_topic_new(rk, (env.prefix + topic_base).encode(), None)
    # RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY
    eq(rk_lib.rd_kafka_produce(rkt, -1, 2, value, len(value), key.encode(), len(key), None), 0,
       "rd_kafka_produce")
    rk_lib.rd_kafka_flush(rk, 30000)
    left = rk_lib.rd_kafka_outq_len(rk)
    rk_lib.rd_kafka_topic_destroy(rkt)
    rk_lib.rd_kafka_destroy(rk)
    eq(left, 0, "messages not delivered by the foreign producer")


def test_issue12_22_every_kind_of_event_and_dead_letter_matches_its_schema():
    """Products, orders, shipments and stock, and dead letters from an applier
    and from a poller, all read through the harness's checks; a letter whose
    headers lose one the schema requires is refused by the same check."""
    seed = make_seed(orders=4, products=3, seed=22, bad_quantity_order="10002")
    seed["products"][0]["attributes"]["weight"] = "tung"  # dead-lettered by apply articles
    on = {"STOCK_SYNC": "on"}
    with env_for("issue12_22_kinds", seed) as env:
        env.run(["poll", "mystore-products", "--once"])
        env.run(["apply", "articles", "--once", "--idle-ms", "2500"])
        env.poll_orders()
        env.apply_orders()
        env.ongoing.post("/_sim/orders/10001/ship",
                         {"tracking": [{"waybill": "W1", "trackingUrl": "https://t/1"}]})
        # A list item without an orderId: the poller's own dead letter.
        env.ongoing.post("/_sim/raw-items", {"list": "orders",
                                             "items": [{"orderInfo": {"orderNumber": "x"}}]})
        env.run(["poll", "ongoing-shipments", "--once"])
        art = env.ongoing.get("/_sim/articles")[0]["articleNumber"]
        env.ongoing.post("/_sim/articles/%s/stock" % art,
                         {"numberOfItems": 5, "sellableNumberOfItems": 3.5})
        env.run(["poll", "ongoing-stock", "--once"], extra_env=on)

        kinds = {}
        for topic, etype in (("mystore.products", "mystore.product"),
                             ("mystore.orders", "mystore.order"),
                             ("ongoing.shipments", "ongoing.order"),
                             ("ongoing.stock", "ongoing.article")):
            msgs = topic_messages(env, topic)
            kinds[etype] = len(msgs)
            check(all(event_of(m)["type"] == etype for m in msgs), "types on %s" % topic)
        eq(kinds["mystore.product"], 3, "product events")
        eq(kinds["mystore.order"], 4, "order events")
        check(kinds["ongoing.order"] >= 1 and kinds["ongoing.article"] >= 1,
              "shipment and stock events: %r" % kinds)

        letters = dlq_messages(env)
        comps = sorted(m["headers"]["mosync.component"] for m in letters)
        eq(comps, ["apply.articles", "apply.orders", "poll.ongoing-shipments"],
           "dead letters by component")
        letter = dict(letters[0], headers=dict(letters[0]["headers"]))
        del letter["headers"]["mosync.error.class"]
        try:
            harness.check_dead_letter(letter)
        except TestFailure as e:
            check("mosync.error.class" in str(e) and "mosync.dlq.headers.schema.json" in str(e),
                  "the failure names the header and the schema: %s" % e)
        else:
            raise TestFailure("a letter without mosync.error.class passed the check")


def test_issue12_22_a_foreign_event_that_breaks_its_schema_fails_the_read():
    """Someone else's producer writes a product event without variants and an
    order event with a fence below 0: reading the topic fails, naming the
    event and the schema path, where it used to pass unnoticed."""
    with env_for("issue12_22_foreign", make_seed(orders=2, products=2, seed=23)) as env:
        env.run(["poll", "mystore-products", "--once"])
        good = event_of(topic_messages(env, "mystore.products")[0])
        bad = dict(good, data={k: v for k, v in good["data"].items() if k != "variants"})
        key = "%s:%s" % (TENANT, bad["entity_id"])
        produce_raw(env, "mystore.products", key, json.dumps(bad).encode())
        try:
            topic_messages(env, "mystore.products")
        except TestFailure as e:
            msg = str(e)
            check("mystore.products" in msg and bad["id"] in msg, "the event is named: %s" % msg)
            check("'variants' is a required property" in msg, "what is wrong: %s" % msg)
            check("schemas/mystore.product.schema.json#/required" in msg,
                  "the schema path: %s" % msg)
        else:
            raise TestFailure("an event without variants was read without a failure")

        env.poll_orders()
        order = event_of(topic_messages(env, "mystore.orders")[0])
        produce_raw(env, "mystore.orders", "%s:%s" % (TENANT, order["entity_id"]),
                    json.dumps(dict(order, fence=-1)).encode())
        try:
            topic_messages(env, "mystore.orders")
        except TestFailure as e:
            check("schemas/envelope.schema.json#/properties/fence/minimum" in str(e),
                  "the envelope's fence rule named: %s" % e)
        else:
            raise TestFailure("an event with fence -1 was read without a failure")
