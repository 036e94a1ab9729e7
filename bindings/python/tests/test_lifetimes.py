"""Memory the library gives back: series removed by clear() and the series Info.info()
replaces are freed, so long-running services that churn label sets keep a flat RSS."""

import resource

import marty_metrics as mm


def resident_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / (1024 * 1024)


def test_clearing_and_repopulating_label_sets_gives_memory_back():
    registry = mm.CollectorRegistry()
    jobs = mm.Counter("jobs", "Jobs", ["queue", "tenant"], registry=registry)

    def churn(rounds):
        for round_ in range(rounds):
            for index in range(1000):
                jobs.labels("queue-%d" % index, "tenant-%d" % ((index + round_) % 1000)).inc()
            jobs.clear()

    churn(20)  # warm up
    before = resident_mib()
    # 100 rounds here (the C test, Tests/c/lifetimes.c, does the full 500): on a library that
    # kept removed series this already grew RSS by about 20 MiB.
    churn(100)
    growth = resident_mib() - before
    assert growth < 4, "100 rounds of 1,000 label sets grew RSS by %.1f MiB" % growth


def test_info_calls_give_memory_back():
    registry = mm.CollectorRegistry()
    build = mm.Info("build", "Build", registry=registry)
    for call in range(1000):
        build.info({"version": "1.%d" % call, "commit": "abc"})
    before = resident_mib()
    for call in range(50000):
        build.info({"version": "1.%d" % call, "commit": "abc"})
    growth = resident_mib() - before
    assert growth < 4, "50,000 Info.info() calls grew RSS by %.1f MiB" % growth
    text = mm.generate_latest(registry).decode()
    assert 'version="1.49999"' in text
    assert "1.49998" not in text
