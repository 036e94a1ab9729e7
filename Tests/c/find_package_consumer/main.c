/* An installed libmarty_metrics, used through find_package(MartyMetrics) or pkg-config. */
#include <stdio.h>
#include <string.h>

#include <marty_metrics.h>

int main(void) {
    if (marty_version_number() != MARTY_METRICS_VERSION_NUMBER) {
        fprintf(stderr, "consumer: header %s but library %s\n", MARTY_METRICS_VERSION_STRING,
                marty_version());
        return 1;
    }
    marty_registry *registry = NULL;
    marty_family *family = NULL;
    marty_counter *counter = NULL;
    char *text = NULL;
    const char *labels[] = {"service"};
    const char *values[] = {"consumer"};
    if (marty_registry_new(&registry) != MARTY_OK ||
        marty_counter_family_new(registry, "consumer_runs", "Consumer runs.", labels, 1,
                                 &family) != MARTY_OK ||
        marty_counter_get(family, values, 1, &counter) != MARTY_OK ||
        marty_counter_inc(counter) != MARTY_OK ||
        marty_registry_render(registry, MARTY_FORMAT_TEXT, &text, NULL) != MARTY_OK) {
        fprintf(stderr, "consumer: %s\n", marty_errmsg());
        return 1;
    }
    fputs(text, stdout);
    int ok = strstr(text, "consumer_runs_total{service=\"consumer\"} 1\n") != NULL;
    marty_free(text);
    marty_family_release(family);
    marty_registry_free(registry);
    printf("consumer: libmarty_metrics %s %s\n", marty_version(), ok ? "works" : "gave wrong text");
    return ok ? 0 : 1;
}
