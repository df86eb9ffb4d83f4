#!/usr/bin/env python3
"""Runs the end-to-end tests against real Redis, real Kafka and the simulators.

    tests/e2e/run.py [--kafka mock|real] [name-filter ...]

--kafka mock (default) gives each test its own embedded broker (`mosync
dev-broker`, librdkafka's mock cluster); --kafka real starts one Apache Kafka
broker (tests/kafka/start) for the run and gives each test its own topic prefix.
Prints one line per test and ends with "N passed, N failed".
"""
import importlib
import os
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402


def discover(filters):
    tests = []
    for fn in sorted(os.listdir(HERE)):
        if fn.startswith("test_") and fn.endswith(".py"):
            mod = importlib.import_module(fn[:-3])
            for name in dir(mod):
                if name.startswith("test_") and callable(getattr(mod, name)):
                    full = "%s.%s" % (fn[:-3], name)
                    if not filters or any(f in full for f in filters):
                        tests.append((full, getattr(mod, name), getattr(mod, name).__code__.co_firstlineno))
    return [(n, f) for n, f, _ in sorted(tests, key=lambda t: (t[0].split(".")[0], t[2]))]


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
        print("# real Kafka broker at %s" % os.environ["MOSYNC_TEST_BOOTSTRAP"], flush=True)
    passed = failed = 0
    try:
        for name, fn in discover(args):
            t0 = time.time()
            try:
                fn()
                passed += 1
                print("ok   %s [%s] (%.1fs)" % (name, kind, time.time() - t0), flush=True)
            except Exception as e:  # a failed check or a crash: both fail the test
                failed += 1
                print("FAIL %s [%s] (%.1fs)" % (name, kind, time.time() - t0), flush=True)
                if isinstance(e, harness.TestFailure):
                    print("    " + str(e).replace("\n", "\n    "), flush=True)
                else:
                    traceback.print_exc(file=sys.stdout)
    finally:
        if broker_dir:
            subprocess.run([os.path.join(harness.ROOT, "tests", "kafka", "stop"), broker_dir])
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
