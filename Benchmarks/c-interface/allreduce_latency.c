/*
 * The C interface's own cost: times collAllReduce on count float32 elements, in place, as
 * collectives-bench times the Swift API's untyped all-reduce (the path the C call takes), so
 * the two can be compared in one session.
 *
 *   cc -O2 -I include Benchmarks/c-interface/allreduce_latency.c -L .build/release -lSwiftCollectivesC \
 *      -Wl,-rpath,$PWD/.build/release -o /tmp/c-latency
 *   COLLECTIVES_TRANSPORT=shm .build/release/collectives-run -n 2 -- /tmp/c-latency [count] [iterations]
 *
 * Prints, on rank 0, the mean time per call (the largest over ranks) in microseconds.
 */
#include "collectives.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    size_t count = argc > 1 ? (size_t)atol(argv[1]) : 2;
    long iterations = argc > 2 ? atol(argv[2]) : 100000;
    collComm_t comm;
    if (collCommInitFromEnv(&comm) != collSuccess) {
        fprintf(stderr, "%s\n", collGetLastError());
        return 1;
    }
    int rank;
    collCommRank(comm, &rank);
    float *values = calloc(count ? count : 1, sizeof(float));
    for (long i = 0; i < iterations / 10; i++) collAllReduce(values, values, count, collFloat32, collSum, comm);
    collBarrier(comm);
    double start = now();
    for (long i = 0; i < iterations; i++) {
        if (collAllReduce(values, values, count, collFloat32, collSum, comm) != collSuccess) {
            fprintf(stderr, "%s\n", collGetLastError());
            return 1;
        }
    }
    double mean = (now() - start) / (double)iterations * 1e6, largest = 0;
    collAllReduce(&mean, &largest, 1, collFloat64, collMax, comm);
    if (rank == 0) printf("%zu bytes: %.3f us per all-reduce through the C interface\n", count * sizeof(float), largest);
    collCommDestroy(comm);
    free(values);
    return 0;
}
