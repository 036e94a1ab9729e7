#define _GNU_SOURCE
#include "cmarty_cpus.h"

#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// Reads "quota period" (v2 cpu.max, "max" meaning none) or a v1 quota and period pair.
static double limit_in(const char *directory) {
    char path[4096];
    double quota = 0, period = 0;
    snprintf(path, sizeof path, "%s/cpu.max", directory);
    FILE *file = fopen(path, "re");
    if (file != NULL) {
        char first[64] = {0};
        if (fscanf(file, "%63s %lf", first, &period) == 2 && strcmp(first, "max") != 0) {
            quota = strtod(first, NULL);
        }
        fclose(file);
    } else {
        snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", directory);
        file = fopen(path, "re");
        if (file == NULL) return 0;
        if (fscanf(file, "%lf", &quota) != 1) quota = 0;
        fclose(file);
        snprintf(path, sizeof path, "%s/cpu.cfs_period_us", directory);
        file = fopen(path, "re");
        if (file == NULL) return 0;
        if (fscanf(file, "%lf", &period) != 1) period = 0;
        fclose(file);
    }
    return quota > 0 && period > 0 ? quota / period : 0;
}

// The lowest limit from `directory` up to `root`.
static double lowest_limit_up_to(char *directory, size_t root_length) {
    double lowest = 0;
    for (;;) {
        double limit = limit_in(directory);
        if (limit > 0 && (lowest == 0 || limit < lowest)) lowest = limit;
        char *slash = strrchr(directory, '/');
        if (slash == NULL || (size_t)(slash - directory) < root_length) break;
        *slash = 0;
    }
    return lowest;
}

double cmarty_cgroup_cpu_limit(const char *proc_self_cgroup, const char *cgroup_root) {
    FILE *file = fopen(proc_self_cgroup, "re");
    if (file == NULL) return 0;
    char line[4096];
    double lowest = 0;
    while (fgets(line, sizeof line, file) != NULL) {
        line[strcspn(line, "\n")] = 0;
        // "hierarchy-id:controllers:path"; v2 is "0::path", v1's CPU controller lists "cpu".
        char *first_colon = strchr(line, ':');
        char *second_colon = first_colon ? strchr(first_colon + 1, ':') : NULL;
        if (second_colon == NULL) continue;
        *second_colon = 0;
        const char *controllers = first_colon + 1;
        const char *path = second_colon + 1;
        char directory[4096];
        size_t root_length = strlen(cgroup_root);
        if (*controllers == 0) {
            snprintf(directory, sizeof directory, "%s%s", cgroup_root, path);
        } else {
            int has_cpu = 0;
            char list[256];
            snprintf(list, sizeof list, "%s", controllers);
            for (char *save = NULL, *name = strtok_r(list, ",", &save); name != NULL;
                 name = strtok_r(NULL, ",", &save)) {
                if (strcmp(name, "cpu") == 0) has_cpu = 1;
            }
            if (!has_cpu) continue;
            // Containers usually see their own cgroup as the mount's root.
            char mount[4096];
            snprintf(mount, sizeof mount, "%s/%s", cgroup_root, controllers);
            root_length = strlen(mount);
            snprintf(directory, sizeof directory, "%s%s", mount, path);
            double limit = lowest_limit_up_to(directory, root_length);
            if (limit == 0) limit = limit_in(mount);
            if (limit > 0 && (lowest == 0 || limit < lowest)) lowest = limit;
            continue;
        }
        size_t length = strlen(directory);
        while (length > root_length && directory[length - 1] == '/') directory[--length] = 0;
        double limit = lowest_limit_up_to(directory, root_length);
        if (limit > 0 && (lowest == 0 || limit < lowest)) lowest = limit;
    }
    fclose(file);
    return lowest;
}

long cmarty_usable_cpus(void) {
    long cpus = 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) cpus = CPU_COUNT(&set);
    if (cpus < 1) cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1) cpus = 1;
    double limit = cmarty_cgroup_cpu_limit("/proc/self/cgroup", "/sys/fs/cgroup");
    if (limit > 0 && ceil(limit) < (double)cpus) cpus = (long)ceil(limit);
    return cpus;
}
