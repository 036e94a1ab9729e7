/* The multiprocess segment's own rules, on its C source directly (its static functions are
 * reached by including it): a process that dies holding the segment's mutex at each step of an
 * append leaves a segment the next taker can use, with no entry lost or made twice. */
#define _GNU_SOURCE
#include "../../Sources/CMartyShims/multiprocess.c"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

static int failures;
#define CHECK(condition, ...)                 \
    do {                                      \
        if (!(condition)) {                   \
            failures++;                       \
            printf("FAIL line %d: ", __LINE__); \
            printf(__VA_ARGS__);              \
            printf("\n");                     \
        }                                     \
    } while (0)

static uint64_t *series(const char *key, int32_t pid) {
    int status = -1;
    uint64_t *cells = cmarty_mp_series(0, pid, (const uint8_t *)key, strlen(key), 2, 0, 1.0, &status);
    CHECK(status == CMARTY_MP_OK && cells != NULL, "series %s: status %d", key, status);
    return cells;
}

/* A child that takes the mutex, does `step` of an append of `key` by hand, and dies. */
static void die_holding_the_mutex(const char *key, int step) {
    pid_t child = fork();
    if (child == 0) {
        lock_segment();
        if (step >= 1) {
            /* The record and its cells are written, and counted: the last step, linking it into
             * the hash table, is not done. */
            uint64_t count = header->series_count;
            uint64_t cells = take_cells(2, 0);
            uint64_t offset = take(sizeof(series_record) + strlen(key), 8);
            series_record *record = at(offset);
            memset(record, 0, sizeof *record);
            record->key_length = (uint32_t)strlen(key);
            record->width = 2;
            record->cells = cells;
            record->hash = hash_of(0, 0, (const uint8_t *)key, strlen(key));
            memcpy(record->key, key, strlen(key));
            uint64_t *offsets = at(header->series_index);
            offsets[count] = offset;
            __atomic_store_n(&header->series_count, count + 1, __ATOMIC_RELEASE);
        }
        _exit(0);  /* without unlocking */
    }
    waitpid(child, NULL, 0);
}

static pthread_barrier_t start_together;

static void *create_segment(void *made) {
    pthread_barrier_wait(&start_together);
    *(int *)made = cmarty_mp_create(4 << 20, 3, 2);
    return NULL;
}

/* Threads making the segment at once, in a process of its own: how many made one. */
static int race_to_create(void) {
    pthread_t threads[4];
    int statuses[4];
    pthread_barrier_init(&start_together, NULL, 4);
    for (int index = 0; index < 4; index++) pthread_create(&threads[index], NULL, create_segment, &statuses[index]);
    int made_count = 0;
    for (int index = 0; index < 4; index++) {
        pthread_join(threads[index], NULL);
        if (statuses[index] == CMARTY_MP_OK) made_count++;
        else if (statuses[index] != CMARTY_MP_EXISTS) return 100;
    }
    return made_count;
}

int main(void) {
    /* Exactly one of the threads makes the segment; the others are told it exists. Each race
     * in a child of its own, 100 times (the window is a mapping's making). */
    int races_not_one = 0;
    for (int race = 0; race < 100; race++) {
        pid_t child = fork();
        if (child == 0) _exit(race_to_create());
        int status = 0;
        waitpid(child, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 1) races_not_one++;
    }
    CHECK(races_not_one == 0, "%d of 100 races did not make exactly one segment", races_not_one);
    CHECK(race_to_create() == 1, "this process' race made one segment");
    uint64_t *first = series("a", 0);
    CHECK(series("a", 0) == first, "a second lookup finds the same cells");

    /* Died holding the mutex before writing anything. */
    die_holding_the_mutex("b", 0);
    size_t before = cmarty_mp_series_count();
    uint64_t *b = series("b", 0);
    CHECK(b != NULL && cmarty_mp_series_count() == before + 1, "the next taker appends (%zu entries)",
          cmarty_mp_series_count());

    /* Died after counting an entry, before linking it: the next taker links it, and a lookup
     * finds that entry instead of appending the series twice. */
    die_holding_the_mutex("c", 1);
    before = cmarty_mp_series_count();
    cmarty_mp_series_entry entry;
    cmarty_mp_series_at(before - 1, &entry);
    uint64_t *c = series("c", 0);
    CHECK(c == entry.cells, "the dead process' entry is the one found");
    CHECK(cmarty_mp_series_count() == before, "no entry was added (%zu, not %zu)", cmarty_mp_series_count(), before);
    CHECK(series("a", 0) == first && series("b", 0) == b, "earlier entries are still found");

    /* Per-process entries: marked dead, then found again by a process of that pid (reused):
     * they come back zeroed. */
    uint64_t *gauge = series("g", 4242);
    gauge[0] = 7;
    cmarty_mp_mark_dead(4242);
    cmarty_mp_series_at(cmarty_mp_series_count() - 1, &entry);
    CHECK(cmarty_mp_is_dead(entry.dead), "marked dead");
    CHECK(series("g", 4242) == gauge && gauge[0] == 0 && !cmarty_mp_is_dead(entry.dead),
          "a reused pid's entry is live again, zeroed");
    CHECK(series("g", 4243) != gauge, "another pid has its own cells");

    /* Full: the tables or the cells run out with a status, never past the end. */
    int status = CMARTY_MP_OK;
    char key[32];
    size_t made = 0;
    while (status == CMARTY_MP_OK && made < 1000000) {
        snprintf(key, sizeof key, "k%zu", made++);
        cmarty_mp_series(0, 0, (const uint8_t *)key, strlen(key), 2, 0, 1.0, &status);
    }
    CHECK(status == CMARTY_MP_FULL, "a full segment says so (status %d after %zu)", status, made);
    CHECK(cmarty_mp_used() <= cmarty_mp_size(), "used %zu of %zu", cmarty_mp_used(), cmarty_mp_size());
    CHECK(cmarty_mp_create(4 << 20, 3, 2) == CMARTY_MP_EXISTS, "one segment per process tree");
    printf("%s\n", failures ? "FAILED" : "passed");
    return failures != 0;
}
