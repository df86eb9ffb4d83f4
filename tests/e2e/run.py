#!/usr/bin/env python3
"""Runs the end-to-end tests against real Redis, real Kafka and the simulators.

    tests/e2e/run.py [--kafka mock|real] [-j N] [name-filter ...]

--kafka mock (default) gives each test its own embedded broker (`mosync
dev-broker`, librdkafka's mock cluster); --kafka real starts one Apache Kafka
broker (tests/kafka/start) for the run and gives each test its own topic prefix.
Tests run N at a time (-j, default MOSYNC_TEST_JOBS or 6): each has its own
Redis, simulators and topics, and most of a test's time is spent waiting.
Prints one line per test and ends with "N passed, N failed".
"""
import concurrent.futures
import importlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402


# Tests that take a minute or more, started first: the run's wall time is then
# about the total divided by the jobs, not that plus the longest test started
# last.  Only the order changes; every test still runs.
LONG_FIRST = (
    "test_ops_replay.test_replay_after_mapping_change",
    "test_issue12_pollers.test_issue12_hostile_first_scan_of_2000_orders",
    "test_cache.test_issue7_05_every_flow_after_flushall_makes_no_second_effect",
    "test_flows.test_mosync_run_stays_within_the_mystore_rate_limit",
    "test_flows.test_two_processes_share_one_token_budget",
    "test_order_filter.test_order_filter_waits_then_lands_once",
)


# The longest correctness tests (a minute and a half or more each): a suite
# of their own, `make test-long`, which CI runs beside `make test` so that
# `make test` stays under ten minutes on two cores.  A filter naming one runs
# it; --with-long adds them all to a run, --long-only runs only them.
LONG_SUITE = (
    "test_issue12_pollers.test_issue12_hostile_first_scan_of_2000_orders",
    "test_ops_replay.test_replay_after_mapping_change",
    "test_cache.test_issue7_05_every_flow_after_flushall_makes_no_second_effect",
    "test_flows.test_300_products_1000_variants_become_1100_articles",
)


def discover(filters, long_mode="skip"):
    """long_mode: "skip" (LONG_SUITE only when a filter names one), "with",
    or "only"."""
    tests = []
    for fn in sorted(os.listdir(HERE)):
        if fn.startswith("test_") and fn.endswith(".py"):
            mod = importlib.import_module(fn[:-3])
            # A suite of its own (BY_NAME_ONLY, e.g. `make tenants`) runs only
            # when a filter names its module.
            if getattr(mod, "BY_NAME_ONLY", False) and not any(f in fn for f in filters):
                continue
            for name in dir(mod):
                if name.startswith("test_") and callable(getattr(mod, name)):
                    full = "%s.%s" % (fn[:-3], name)
                    is_long = full in LONG_SUITE
                    if long_mode == "only" and not is_long:
                        continue
                    if long_mode == "skip" and is_long and not any(f in full for f in filters):
                        continue
                    if not filters or any(f in full for f in filters):
                        tests.append((full, getattr(mod, name), getattr(mod, name).__code__.co_firstlineno))
    return [(n, f) for n, f, _ in sorted(tests, key=lambda t: (t[0].split(".")[0], t[2]))]


def run_one(name, fn, kind):
    """Runs one test; returns (True, False or None for skipped, the lines to print)."""
    out = io.StringIO()
    t0 = time.time()
    harness.forget_watched()  # this thread's processes of an earlier test are not this one's
    try:
        fn()
        out.write("ok   %s [%s] (%.1fs)\n" % (name, kind, time.time() - t0))
        return True, out.getvalue()
    except harness.Skip as e:
        out.write("skip %s [%s]: %s\n" % (name, kind, e))
        return None, out.getvalue()
    except Exception as e:  # a failed check or a crash: both fail the test
        out.write("FAIL %s [%s] (%.1fs)\n" % (name, kind, time.time() - t0))
        if isinstance(e, harness.TestFailure):
            out.write("    " + str(e).replace("\n", "\n    ") + "\n")
        else:
            traceback.print_exc(file=out)
        return False, out.getvalue()


def main():
    args = sys.argv[1:]
    kind = os.environ.get("MOSYNC_TEST_KAFKA", "mock")
    if args[:1] == ["--kafka"]:
        kind, args = args[1], args[2:]
    os.environ["MOSYNC_TEST_KAFKA"] = kind
    broker_dir = None
    if kind == "real":
        broker_dir = tempfile.mkdtemp(prefix="mosync-kafka-")
        out = subprocess.run([os.path.join(harness.ROOT, "tests", "kafka", "start"), broker_dir],
                             stdout=subprocess.PIPE, check=True).stdout.decode().strip().splitlines()
        os.environ["MOSYNC_TEST_BOOTSTRAP"] = out[-1].split("=", 1)[1]
        # Every test fails at once, naming it, if the shared broker dies.
        harness.watch(harness.RealBroker(broker_dir), shared=True)
        print("# real Kafka broker at %s" % os.environ["MOSYNC_TEST_BOOTSTRAP"], flush=True)
    long_mode = "skip"
    while args[:1] in (["--with-long"], ["--long-only"]):
        long_mode, args = ("with" if args[0] == "--with-long" else "only"), args[1:]
    jobs = int(os.environ.get("MOSYNC_TEST_JOBS", "6"))
    if args[:1] == ["-j"]:
        jobs, args = int(args[1]), args[2:]
    passed = failed = skipped = 0
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            tests = discover(args, long_mode)
            tests.sort(key=lambda t: not t[0].startswith(LONG_FIRST))  # stable: long ones first
            futures = [pool.submit(run_one, name, fn, kind) for name, fn in tests]
            for fut in concurrent.futures.as_completed(futures):
                ok, text = fut.result()
                print(text, end="", flush=True)
                if ok:
                    passed += 1
                elif ok is None:
                    skipped += 1
                else:
                    failed += 1
    finally:
        if broker_dir:
            subprocess.run([os.path.join(harness.ROOT, "tests", "kafka", "stop"), broker_dir])
            # Its data and log are the tests' topics: of no use once they have run.
            shutil.rmtree(broker_dir, ignore_errors=True)
    if skipped:
        print("# %d skipped on this Kafka kind" % skipped, flush=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
